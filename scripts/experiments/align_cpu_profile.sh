#!/usr/bin/env bash
# Where a cross-tokenizer (align) step goes on the CPU: the headline config
# (configs/qwen7b_to_opt125m.json: Qwen teacher tokenizer, GPT-2 student tokenizer) with the tiny
# stand-in models of tests/configs/models at random weights, Brown text, 8 x 256 tokens per step,
# train.profile's synchronised split (docs/cross-tokenizer.md quotes its data and loss phases).
#   scripts/experiments/align_cpu_profile.sh [RUN_DIR]       (STEPS=14 by default; BIN=build/distill)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-build/distill}
RUN=${1:-runs/align-cpu-profile}
rm -rf "$RUN"
"$BIN" train --config configs/qwen7b_to_opt125m.json \
  --set teacher.path=tests/configs/models/qwen2-tiny-qwenvocab --set teacher.init=random \
  --set teacher.tokenizer=.testdata/qwen3 --set teacher.dtype=fp32 \
  --set student.path=tests/configs/models/opt-tiny-gpt2vocab --set student.init=random \
  --set student.tokenizer=.testdata/gpt2 \
  --set 'data.train=[".testdata/demo/brown_train.jsonl"]' --set 'data.valid=[]' --set data.valid_fraction=0 \
  --set data.cache_dir="$RUN-cache" --set data.seq_len=256 --set loss.chunk_tokens=512 \
  --set train.device=cpu --set train.precision=fp32 --set train.micro_batch=8 --set train.grad_accum=1 \
  --set train.max_steps="${STEPS:-14}" --set train.log_every=2 --set train.eval_every=0 --set train.profile=true \
  --set schedule.warmup_steps=1 --set checkpoint.dir="$RUN" --set checkpoint.every_steps=0
cat "$RUN/profile.json"
