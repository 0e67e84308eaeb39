#!/usr/bin/env bash
# A/B of distill alone on issue #8's workloads (GPU machine): each variant is a set of environment
# switches and/or train keys; runs one after the other in one call, 20 steps each (log_every 4),
# and prints tokens/s of the windows after step 4 but the last (fast with overlap_teacher),
# the peak and the last loss. For levers before they go into bench_train.sh.
#
#   scripts/bench/ab_train.sh "qwen7b_to_0.5b llama7b_to_opt125m" \
#       'off|DISTILL_GATE_UP=0|{}' 'on|DISTILL_GATE_UP=1|{}' 'overlap||{"overlap_teacher": true}'
#
# A variant is LABEL|ENV (space-separated VAR=value, may be empty)|TRAIN-JSON[|TEACHER-JSON[|LOSS-JSON]], e.g.
# 'stream10||{"overlap_teacher": true}|{"offload": "layers", "offload_layers": 10}'. TRACE_DIR=dir also
# keeps each run's trace (gzipped) when the variant sets "trace_steps"; LOG_DIR=dir keeps each run's log.
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ $# -ge 2 ]] || { sed -n '2,10p' "$0"; exit 2; }
BIN=${DISTILL_BIN:-build/distill}
STEPS=${STEPS:-20}
SCRATCH=${SCRATCH:-/dev/shm/distill-ab}
mkdir -p "$SCRATCH"
source scripts/bench/workloads.sh
data=$SCRATCH/rows.jsonl
[[ -f $data ]] || make_rows "$data" $((4 * STEPS))
workloads=$1
shift
for name in $workloads; do
  read -r teacher student tok <<<"$(workload "$name")"
  for variant in "$@"; do
    IFS='|' read -r label envs train teacher_keys loss_keys <<<"$variant"
    [[ -n $train ]] || train='{}'
    [[ -n $teacher_keys ]] || teacher_keys='{}'
    [[ -n $loss_keys ]] || loss_keys='{}'
    distill_config "$teacher" "$student" "$tok" "$data" "$SCRATCH/run" random 4 "$STEPS" 4 "$train" "$teacher_keys" "$loss_keys" \
      > "$SCRATCH/config.json"
    rm -rf "$SCRATCH/run"
    read -ra env_list <<<"$envs"
    if ! env ${env_list[@]+"${env_list[@]}"} "$BIN" train --config "$SCRATCH/config.json" > "$SCRATCH/log" 2>&1; then
      echo "AB $name $label: FAILED"
      tail -5 "$SCRATCH/log"
      continue
    fi
    python3 - "$SCRATCH/run/metrics.jsonl" "$name" "$label" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
w = [r["tokens_per_s"] for r in rows if "tokens_per_s" in r and r["step"] > 4][:-1]
peak = max(r.get("peak_mem_gib", 0) for r in rows)
med = sorted(w)[len(w) // 2] if len(w) % 2 else sum(sorted(w)[len(w) // 2 - 1:len(w) // 2 + 1]) / 2
print(f"AB {sys.argv[2]} {sys.argv[3]}: {sum(w) / len(w):.0f} tok/s (median {med:.0f}, spread "
      f"{(max(w) - min(w)) / med:.1%}; windows {', '.join(f'{x:.0f}' for x in w)}), "
      f"peak {peak:.2f} GiB, last loss {rows[-1]['loss']:.6f}", flush=True)
PY
    if [[ -n ${LOG_DIR:-} ]]; then
      mkdir -p "$LOG_DIR"
      cp "$SCRATCH/log" "$LOG_DIR/log_${name}_${label}.txt"
    fi
    if [[ -n ${TRACE_DIR:-} && -f $SCRATCH/run/trace.json ]]; then
      mkdir -p "$TRACE_DIR"
      gzip -c "$SCRATCH/run/trace.json" > "$TRACE_DIR/trace_${name}_${label}.json.gz"
    fi
  done
done
