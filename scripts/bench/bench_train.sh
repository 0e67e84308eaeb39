#!/usr/bin/env bash
# Distillation training throughput on the GPU machine (issue #8): `distill train` against the Python
# peer (scripts/bench/train_peer.py: HF transformers, eager and torch.compile) in one run, same
# shapes, loss (forward KL, T 2, alpha 0.5, + CE), optimizer (AdamW, clip 1.0), precision (bf16
# teacher; fp32 master student under bf16 autocast), micro-batch 4 x 2048, random weights at real
# shapes (bench/configs), the same pre-tokenized rows in the same order.
#   scripts/bench/bench_train.sh [WORKLOAD ...]     (default: all three)
# Workloads: qwen7b_to_0.5b, qwen1.5b_to_0.5b, llama7b_to_opt125m. PARITY=1 also checks that the
# first-step losses agree when both load the same weights (the first workload given; saved by the peer).
# TRAIN='{"overlap_teacher": true}' adds keys to distill's train section, TEACHER='{"offload": "layers",
# "offload_layers": 10}' to its teacher section; EAGER=0 skips the eager peer.
# Writes $OUT_DIR/train_<workload>.json (default docs/benchmarks) and prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT_DIR=${OUT_DIR:-docs/benchmarks}
BIN=${DISTILL_BIN:-build/distill}
STEPS=${STEPS:-20}
COMPILE=${COMPILE:-1}
EAGER=${EAGER:-1}
export TRAIN=${TRAIN:-"{}"}
export TEACHER=${TEACHER:-"{}"}
SCRATCH=${SCRATCH:-/dev/shm/distill-bench}
mkdir -p "$OUT_DIR" "$SCRATCH"
WORKLOADS=("$@")
[[ ${#WORKLOADS[@]} -gt 0 ]] || WORKLOADS=(qwen7b_to_0.5b qwen1.5b_to_0.5b llama7b_to_opt125m)

source scripts/bench/workloads.sh
# 4 * STEPS rows (the peer reads the same ones).
data=$SCRATCH/rows.jsonl
make_rows "$data" "$((4 * STEPS))"

# distill config: workload paths, init mode (random | pretrained), steps, run dir, profile flag.
make_config() {  # teacher student tokenizer init steps run_dir profile log_every -> stdout
  local train
  train=$(python3 -c 'import json, os, sys; print(json.dumps({"profile": sys.argv[1] == "1", **json.loads(os.environ["TRAIN"])}))' "$7")
  distill_config "$1" "$2" "$3" "$data" "$6" "$4" 4 "$5" "$8" "$train" "$TEACHER"
}

first=1
for name in "${WORKLOADS[@]}"; do
  read -r teacher student tok <<<"$(workload "$name")"
  res=$SCRATCH/$name
  rm -rf "$res"; mkdir -p "$res"
  echo "== $name: distill"
  make_config "$teacher" "$student" "$tok" random "$STEPS" "$res/run" 0 4 > "$res/config.json"
  "$BIN" train --config "$res/config.json" > "$res/distill.log" 2>&1 || { tail -20 "$res/distill.log"; exit 1; }
  cp "$res/run/metrics.jsonl" "$res/distill_metrics.jsonl"
  echo "== $name: distill, profiled"
  make_config "$teacher" "$student" "$tok" random 8 "$res/prof" 1 4 > "$res/config_prof.json"
  "$BIN" train --config "$res/config_prof.json" > "$res/distill_prof.log" 2>&1 || { tail -20 "$res/distill_prof.log"; exit 1; }
  cp "$res/prof/profile.json" "$res/profile.json"
  rm -rf "$res/run" "$res/prof"
  if [[ $EAGER == 1 ]]; then
    echo "== $name: HF eager"
    python3 scripts/bench/train_peer.py --teacher "$teacher" --student "$student" --data "$data" --steps "$STEPS" \
      > "$res/peer_eager.json"
  fi
  if [[ $COMPILE == 1 ]]; then
    echo "== $name: HF torch.compile"
    python3 scripts/bench/train_peer.py --teacher "$teacher" --student "$student" --data "$data" --steps "$STEPS" \
      --compile > "$res/peer_compile.json" 2> "$res/peer_compile.err" || tail -5 "$res/peer_compile.err"
  fi
  if [[ ${PARITY:-0} == 1 && $first == 1 ]]; then
    echo "== $name: first-step parity on shared weights"
    python3 scripts/bench/train_peer.py --teacher "$teacher" --student "$student" --data "$data" --save-weights "$res/w"
    cp "$tok" "$res/w/teacher/"; cp "$tok" "$res/w/student/"
    python3 scripts/bench/train_peer.py --teacher "$res/w/teacher" --student "$res/w/student" --data "$data" \
      --weights-from-pretrained --steps 1 --warmup 1 > "$res/parity_peer.json"
    make_config "$res/w/teacher" "$res/w/student" "$tok" pretrained 1 "$res/prun" 0 1 > "$res/config_parity.json"
    "$BIN" train --config "$res/config_parity.json" > "$res/distill_parity.log" 2>&1 || { tail -20 "$res/distill_parity.log"; exit 1; }
    head -1 "$res/prun/metrics.jsonl" > "$res/parity_distill.json"
    rm -rf "$res/w" "$res/prun"
  fi
  first=0
  python3 scripts/bench/train_report.py "$res" "$name" "$teacher" "$student" > "$OUT_DIR/train_$name.json"
done
python3 scripts/bench/train_report.py --table "$OUT_DIR" "${WORKLOADS[@]}"
