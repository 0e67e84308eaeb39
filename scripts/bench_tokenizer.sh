#!/usr/bin/env bash
# Tokenizer speed: distill vs HF tokenizers (and tiktoken) on the same corpus, one thread, one run.
#
#   scripts/bench_tokenizer.sh [OUT_DIR]      # default docs/benchmarks
#
# Needs .testdata/{qwen3,llama2,gpt2,bench} (scripts/fetch_test_data.sh) and, for the reference
# side, Python with `tokenizers` (and `tiktoken` for the qwen-tiktoken row). Builds only
# distill_tokenizer_bench in $DISTILL_BUILD_DIR (default build-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-docs/benchmarks}
BUILD=${DISTILL_BUILD_DIR:-build-bench}
for d in qwen3 llama2 gpt2 bench; do
  [[ -d .testdata/$d ]] || { echo "bench_tokenizer: .testdata/$d missing: run scripts/fetch_test_data.sh" >&2; exit 1; }
done
DISTILL_BUILD_DIR=$BUILD scripts/setup.sh
cmake --build "$BUILD" --target distill_tokenizer_bench --parallel "$(nproc)"
export TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1
python3 scripts/bench_tokenizer.py --bench "$BUILD/bench/tokenizer/distill_tokenizer_bench" --out "$OUT"
