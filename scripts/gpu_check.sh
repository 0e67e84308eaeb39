#!/usr/bin/env bash
# The GPU machine's acceptance checks for training, beyond `scripts/test.sh` (which runs the
# gpu-labelled tests there): a real distillation run on CUDA in bf16 (the demo's teacher and
# student), its TensorBoard events checked with TensorBoard's own reader, and its export loaded by HF
# transformers with logits equal to distill's. Needs a CUDA build, PyTorch, transformers, tensorboard.
#   scripts/gpu_check.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-runs/gpu_check}
BIN=${DISTILL_BIN:-build/distill}
RUN="$OUT_DIR/kd"
rm -rf "$OUT_DIR" && mkdir -p "$OUT_DIR"
python3 scripts/make_demo_data.py
"$BIN" train --config configs/tiny_smoke.json --set "checkpoint.dir=$RUN" --set train.device=cuda \
  --set train.precision=bf16 --set teacher.dtype=bf16 --set train.max_steps=600 --set train.eval_every=200 \
  --set train.micro_batch=32 --resume never
python3 scripts/check_tfevents.py "$RUN" --expect-metrics
"$BIN" export "$RUN" --out "$OUT_DIR/student"
# distill's logits for the exported student, then transformers' for the same folder.
python3 - "$OUT_DIR" <<'PY'
import sys, torch
from safetensors.torch import save_file
torch.manual_seed(0)
save_file({"input_ids": torch.randint(0, 2000, (2, 64))}, f"{sys.argv[1]}/ids.safetensors")
PY
"$BIN" forward --model "$OUT_DIR/student" --input "$OUT_DIR/ids.safetensors" --output "$OUT_DIR/logits.safetensors"
python3 - "$OUT_DIR" <<'PY'
import sys
from safetensors.torch import load_file, save_file
d = sys.argv[1]
save_file({"input_ids": load_file(f"{d}/ids.safetensors")["input_ids"],
           "logits": load_file(f"{d}/logits.safetensors")["logits"]}, f"{d}/golden.safetensors")
PY
python3 scripts/check_hf_load.py "$OUT_DIR/student" "$OUT_DIR/golden.safetensors"
grep '"val_ppl"' "$RUN/metrics.jsonl" | tail -n 1
