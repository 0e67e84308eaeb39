#!/usr/bin/env bash
# The largest micro-batch that fits on the GPU (issue #8), for distill and the eager HF peer
# (scripts/bench/train_peer.py), on the workloads of scripts/bench/bench_train.sh: the same
# config (T=2048, bf16 teacher, fp32 master student under bf16 autocast, no activation
# checkpointing), micro-batches doubled from START until a run fails; each run takes 2 steps.
#   scripts/bench/bench_max_micro_batch.sh [WORKLOAD ...]   (default: qwen7b_to_0.5b)
# Writes $OUT_DIR/train_max_micro_batch.json (default docs/benchmarks).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT_DIR=${OUT_DIR:-docs/benchmarks}
BIN=${DISTILL_BIN:-build/distill}
START=${START:-8}
LIMIT=${LIMIT:-128}
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
  for side in distill peer; do
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
        if python3 scripts/bench/train_peer.py --teacher "$teacher" --student "$student" --data "$data" \
             --micro-batch "$mb" --steps 2 --warmup 1 > "$run/peer.json" 2> "$run/log"; then
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
python3 - "$results" "$OUT_DIR" "$START" "$LIMIT" <<'PY'
import json, os, sys, torch
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
out = {"gpu": torch.cuda.get_device_name(0), "seq_len": 2048, "search": f"doubling from {sys.argv[3]} up to {sys.argv[4]}",
       "peer": "scripts/bench/train_peer.py, eager", "runs": rows, "largest": {}}
for w in sorted({r["workload"] for r in rows}):
    out["largest"][w] = {side: max([r["micro_batch"] for r in rows if r["workload"] == w and r["side"] == side and r["fits"]],
                                   default=None) for side in ("distill", "peer")}
json.dump(out, open(os.path.join(sys.argv[2], "train_max_micro_batch.json"), "w"), indent=2)
print(json.dumps(out["largest"], indent=2))
PY
