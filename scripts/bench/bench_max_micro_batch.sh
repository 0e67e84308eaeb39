#!/usr/bin/env bash
# The largest micro-batch that fits on the GPU (issue #8), for distill and the HF peer
# (scripts/bench/train_peer.py, eager and/or torch.compile'd), on the workloads of
# scripts/bench/bench_train.sh: the same config (T=2048, bf16 teacher, fp32 master student under
# bf16 autocast, no activation checkpointing), micro-batches doubled from START until a run fails;
# each run takes 2 steps (the compiled peer compiles again for each micro-batch: minutes each).
#   scripts/bench/bench_max_micro_batch.sh [WORKLOAD ...]   (default: qwen7b_to_0.5b)
#   SIDES="distill peer" (default) | "compile" | any of distill, peer (eager), compile
# Writes $OUT_DIR/$OUT_NAME (default docs/benchmarks/train_max_micro_batch.json).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT_DIR=${OUT_DIR:-docs/benchmarks}
BIN=${DISTILL_BIN:-build/distill}
START=${START:-8}
LIMIT=${LIMIT:-128}
SIDES=${SIDES:-"distill peer"}
OUT_NAME=${OUT_NAME:-train_max_micro_batch.json}
SCRATCH=${SCRATCH:-/dev/shm/distill-maxmb}
rm -rf "$SCRATCH"; mkdir -p "$OUT_DIR" "$SCRATCH"
WORKLOADS=("$@")
[[ ${#WORKLOADS[@]} -gt 0 ]] || WORKLOADS=(qwen7b_to_0.5b)

source scripts/bench/workloads.sh
data=$SCRATCH/rows.jsonl
make_rows "$data" "$((2 * LIMIT))"

results=$SCRATCH/results.jsonl
: > "$results"
for name in "${WORKLOADS[@]}"; do
  read -r teacher student tok <<<"$(workload "$name")"
  for side in $SIDES; do
    mb=$START
    while (( mb <= LIMIT )); do
      run=$SCRATCH/$name-$side-$mb
      mkdir -p "$run"
      if [[ $side == distill ]]; then
        distill_config "$teacher" "$student" "$tok" "$data" "$run/run" random "$mb" 2 1 > "$run/config.json"
        if "$BIN" train --config "$run/config.json" > "$run/log" 2>&1; then
          peak=$(python3 -c "import json,sys; print(max(json.loads(l).get('peak_mem_gib',0) for l in open(sys.argv[1]) if l.strip()))" "$run/run/metrics.jsonl")
          ok=1
        else
          ok=0; peak=null
        fi
      else
        compile=()
        [[ $side == compile ]] && compile=(--compile)
        if python3 scripts/bench/train_peer.py --teacher "$teacher" --student "$student" --data "$data" \
             --micro-batch "$mb" --steps 2 --warmup 1 ${compile[@]+"${compile[@]}"} > "$run/peer.json" 2> "$run/log"; then
          peak=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['peak_gib'])" "$run/peer.json")
          ok=1
        else
          ok=0; peak=null
        fi
      fi
      echo "{\"workload\": \"$name\", \"side\": \"$side\", \"micro_batch\": $mb, \"fits\": $ok, \"peak_gib\": $peak}" | tee -a "$results"
      rm -rf "$run/run"
      (( ok == 1 )) || break
      mb=$((mb * 2))
    done
  done
done
python3 - "$results" "$OUT_DIR" "$START" "$LIMIT" "$OUT_NAME" "$SIDES" <<'PY'
import json, os, sys, torch
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sides = sys.argv[6].split()
out = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "seq_len": 2048,
       "search": f"doubling from {sys.argv[3]} up to {sys.argv[4]}",
       "sides": {"distill": "build/distill", "peer": "scripts/bench/train_peer.py, eager",
                 "compile": "scripts/bench/train_peer.py --compile"},
       "runs": rows, "largest": {}}
out["sides"] = {k: v for k, v in out["sides"].items() if k in sides}
for w in sorted({r["workload"] for r in rows}):
    out["largest"][w] = {side: max([r["micro_batch"] for r in rows if r["workload"] == w and r["side"] == side and r["fits"]],
                                   default=None) for side in sides}
json.dump(out, open(os.path.join(sys.argv[2], sys.argv[5]), "w"), indent=2)
print(json.dumps(out["largest"], indent=2))
PY
