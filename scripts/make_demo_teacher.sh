#!/usr/bin/env bash
# Trains the demo's teacher with distill itself and writes it to tests/data/demo/teacher (committed).
#
#   scripts/make_demo_teacher.sh [extra distill train args, e.g. --set train.device=cpu]
#
# The teacher: a 4-layer LLaMA-shaped model (hidden 192, 2.3M parameters, configs/models/demo-teacher)
# with the Brown SentencePiece tokenizer (2,000 pieces), trained from random initialisation with plain
# cross-entropy (loss.kind ce) on the Brown corpus (scripts/make_demo_data.py) by
# configs/demo_teacher.json: 1,500 steps of 32 x 128 tokens. On a GPU this takes about a minute, on
# two CPU cores about an hour. The result is exported in bf16 (half the bytes to commit).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${DISTILL_BIN:-build/distill}
RUN=${DEMO_TEACHER_RUN:-runs/demo_teacher}
OUT=${DEMO_TEACHER_OUT:-tests/data/demo/teacher}
python3 scripts/make_demo_data.py
"$BIN" train --config configs/demo_teacher.json --set "checkpoint.dir=$RUN" "$@"
rm -rf "$OUT.new"
"$BIN" export "$RUN" --out "$OUT.new" --dtype bf16
rm -rf "$OUT"
mv "$OUT.new" "$OUT"
grep '"val_ppl"' "$RUN/metrics.jsonl" | tail -n 1
echo "make_demo_teacher: wrote $OUT"
