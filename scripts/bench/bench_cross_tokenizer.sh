#!/usr/bin/env bash
# Issue #7's speed criterion on the GPU machine: configs/qwen7b_to_opt125m.json (loss.cross_tokenizer
# align: Qwen teacher, OPT student with the GPT-2 tokenizer) against the same run with a
# same-vocabulary student (OPT-125m shapes with the teacher's 152064-row vocabulary, Qwen tokenizer,
# loss.cross_tokenizer none). Random weights at real shapes (bench/configs), the same text
# (.testdata/bench/corpus.jsonl), micro-batch 4 x 2048, 16 steps; tokens/s = mean of the logging
# windows after step 4. Writes $OUT_DIR/cross_tokenizer_h200.json (default docs/benchmarks).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT_DIR=${OUT_DIR:-docs/benchmarks}
BIN=${DISTILL_BIN:-build/distill}
SCRATCH=${SCRATCH:-/dev/shm/distill-xtok}
rm -rf "$SCRATCH"; mkdir -p "$SCRATCH" "$OUT_DIR"
common=(--set teacher.path=bench/configs/qwen2.5-7b --set teacher.init=random
        --set teacher.tokenizer=.testdata/qwen3/tokenizer.json --set student.init=random
        --set 'data.train=[".testdata/bench/corpus.jsonl"]' --set 'data.valid=[]' --set data.valid_fraction=0
        --set data.keep_text=true --set train.max_steps=16 --set schedule.warmup_steps=2 --set train.log_every=4 --set train.eval_every=0
        --set train.auto_micro_batch=false --set train.grad_accum=1 --set checkpoint.every_steps=0)
run() {  # name, extra args...
  local name=$1; shift
  "$BIN" train --config configs/qwen7b_to_opt125m.json "${common[@]}" --set checkpoint.dir="$SCRATCH/$name" "$@" \
    > "$SCRATCH/$name.log" 2>&1 || { tail -20 "$SCRATCH/$name.log"; exit 1; }
}
run align --set student.path=bench/configs/opt-125m --set student.tokenizer=.testdata/gpt2
run same_vocab --set student.path=bench/configs/opt-125m-qwen-vocab --set student.tokenizer=.testdata/qwen3/tokenizer.json \
  --set loss.cross_tokenizer=none
python3 - "$SCRATCH" "$OUT_DIR" <<'PY'
import json, os, sys
scratch, out = sys.argv[1:]
res = {}
for name in ("align", "same_vocab"):
    rows = [json.loads(l) for l in open(os.path.join(scratch, name, "metrics.jsonl")) if l.strip()]
    w = [r["tokens_per_s"] for r in rows if "tokens_per_s" in r and r["step"] > 4]
    res[name] = {"tokens_per_s": sum(w) / len(w), "peak_gib": max(r.get("peak_mem_gib", 0) for r in rows),
                 "first_loss": rows[0]["loss"]}
    res[name]["log_lines"] = [l.strip() for l in open(os.path.join(scratch, name + ".log")) if "align:" in l or "transplant:" in l][:3]
res["align_vs_same_vocab"] = res["align"]["tokens_per_s"] / res["same_vocab"]["tokens_per_s"]
json.dump(res, open(os.path.join(out, "cross_tokenizer_h200.json"), "w"), indent=2)
print(json.dumps(res, indent=2))
PY
