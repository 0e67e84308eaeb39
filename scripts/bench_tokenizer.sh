#!/usr/bin/env bash
# Tokenizer speed: distill vs HF tokenizers (and tiktoken) on the same corpus, one thread, one run.
#
#   scripts/bench_tokenizer.sh [OUT_DIR]      # default docs/benchmarks
#
# Needs .testdata/{qwen3,llama2,gpt2,bench} (scripts/fetch_test_data.sh) and, for the reference
# side, Python with `tokenizers` (and `tiktoken` for the qwen-tiktoken row). Builds only
# distill_tokenizer_bench in $DISTILL_BUILD_DIR (default build-bench) through scripts/setup.sh; if
# that configure fails (a missing build tool), it compiles the tokenizer sources and the bench
# directly with g++ instead: they need only PCRE2 (headers from .deb/libpcre2-dev_*.deb if not
# installed), nlohmann-json and spdlog, no LibTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-docs/benchmarks}
BUILD=${DISTILL_BUILD_DIR:-build-bench}
for d in qwen3 llama2 gpt2 bench; do
  [[ -d .testdata/$d ]] || { echo "bench_tokenizer: .testdata/$d missing: run scripts/fetch_test_data.sh" >&2; exit 1; }
done

BENCH="$BUILD/bench/tokenizer/distill_tokenizer_bench"
if DISTILL_BUILD_DIR=$BUILD scripts/setup.sh && cmake --build "$BUILD" --target distill_tokenizer_bench --parallel "$(nproc)"; then
  echo "bench_tokenizer: built $BENCH with CMake" >&2
else
  echo "bench_tokenizer: CMake build failed; compiling the bench directly" >&2
  mkdir -p "$BUILD/direct"
  cflags=(-O3 -DNDEBUG -std=c++17 -Iinclude)
  if [[ ! -f /usr/include/pcre2.h ]]; then
    deb=$(ls .deb/libpcre2-dev_*.deb | head -n1)
    dpkg -x "$deb" "$BUILD/direct/pcre2"
    cflags+=(-isystem "$BUILD/direct/pcre2/usr/include")
  fi
  pcre2_lib=$(ls /usr/lib/*/libpcre2-8.so* /usr/lib/libpcre2-8.so* 2>/dev/null | head -n1)
  spdlog_flags=$(pkg-config --cflags --libs spdlog 2>/dev/null || echo "-DSPDLOG_FMT_EXTERNAL -lspdlog -lfmt")
  sources=(src/tokenizer/*.cpp src/util/errors.cpp src/util/logging.cpp bench/tokenizer/bench_tokenizer.cpp)
  objs=()
  for src in "${sources[@]}"; do
    obj="$BUILD/direct/$(basename "${src%.cpp}").o"
    objs+=("$obj")
    # shellcheck disable=SC2086
    g++ "${cflags[@]}" $spdlog_flags -c "$src" -o "$obj" &
    while (($(jobs -r | wc -l) >= $(nproc))); do sleep 0.2; done
  done
  wait
  BENCH="$BUILD/direct/distill_tokenizer_bench"
  # shellcheck disable=SC2086
  g++ -o "$BENCH" "${objs[@]}" "$pcre2_lib" $spdlog_flags -ldl -pthread
fi
export TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1
python3 scripts/bench_tokenizer.py --bench "$BENCH" --out "$OUT"
