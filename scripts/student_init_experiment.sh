#!/usr/bin/env bash
# Does building the student from the teacher help? The demo teacher (4 layers, 2.3M parameters)
# distilled into half-depth students for equal steps:
#   pruned   student.init from the teacher: 2 of its 4 layers, chosen by block influence on Brown text
#   random   the same shape as a fresh model, initialised as transformers initialises LLaMA
# Same data, seed, loss (forward KL, T 2, alpha 0.5) and schedule (configs/student_init_half_depth.json,
# 300 steps of 8 x 128 tokens on the CPU). Prints held-out loss and perplexity before and after training.
#   scripts/student_init_experiment.sh            # DISTILL_BIN (build/distill), EXPERIMENT_RUNS (runs/student_init)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${DISTILL_BIN:-build/distill}
RUNS=${EXPERIMENT_RUNS:-runs/student_init}
CONFIG=configs/student_init_half_depth.json
[ -f .testdata/demo/brown_train.jsonl ] || python3 scripts/make_demo_data.py
rm -rf "$RUNS"

train() {  # name, extra --set arguments
  local name=$1
  shift
  echo "== $name"
  "$BIN" train --config "$CONFIG" --set "checkpoint.dir=$RUNS/$name" --set "student.path=$RUNS/$name/student" \
    --resume never "$@"
}
train pruned
train random --set student.init.random=true

python3 - "$RUNS" <<'PY'
import json, math, sys
runs = sys.argv[1]
def rows(name):
    return [json.loads(l) for l in open(f"{runs}/{name}/metrics.jsonl") if l.strip() and "val_loss" in l]
def kept(name):
    return json.load(open(f"{runs}/{name}/student/init_student.json"))["kept"]["layers"]
print(f"\nheld-out Brown text ({rows('pruned')[-1]['val_tokens']} tokens); teacher perplexity "
      f"{rows('pruned')[-1]['val_teacher_ppl']:.2f}, teacher CE {rows('pruned')[-1]['val_teacher_ce_loss']:.4f}")
print(f"{'student':<10} {'layers':<8} {'step':>5} {'val loss':>9} {'val CE':>8} {'val ppl':>9}")
for name in ("pruned", "random"):
    for r in (rows(name)[0], rows(name)[-1]):
        print(f"{name:<10} {str(kept(name)):<8} {r['step']:>5} {r['val_loss']:>9.4f} {r['val_ce_loss']:>8.4f} {r['val_ppl']:>9.2f}")
PY
