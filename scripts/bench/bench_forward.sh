#!/usr/bin/env bash
# bf16 forward (prefill) throughput of distill against HF transformers, measured in one run on the
# GPU machine. Needs a CUDA build (scripts/setup.sh + cmake --build build) and PyTorch +
# transformers. Writes $OUT_DIR/forward_h200.json and .md (default docs/benchmarks).
#   scripts/bench/bench_forward.sh [BATCH] [SEQ_LEN]
set -euo pipefail
cd "$(dirname "$0")/../.."
BATCH=${1:-4}
SEQ=${2:-2048}
OUT_DIR=${OUT_DIR:-docs/benchmarks}
BIN=${DISTILL_BIN:-build/distill}
MODELS=(bench/configs/qwen2.5-7b bench/configs/llama-2-7b)
mkdir -p "$OUT_DIR"
tmp=$(mktemp -d)
# ROUNDS rounds per model, the order alternating (distill first, then HF first, ...) so that clock
# and thermal drift during the run does not favour either side; the table reports the mean.
ROUNDS=${ROUNDS:-2}
run_distill() {
  "$BIN" bench --random-weights --model "$1" --batch "$BATCH" --prompt-len "$SEQ" --dtype bf16 --device cuda \
    --warmup 3 --iters 10 --json "$2"
}
run_hf() { python3 scripts/bench/forward_peer.py --model "$1" --batch "$BATCH" --prompt-len "$SEQ" --warmup 3 --iters 10 > "$2"; }
for m in "${MODELS[@]}"; do
  name=$(basename "$m")
  for ((r = 0; r < ROUNDS; r++)); do
    if ((r % 2 == 0)); then
      run_distill "$m" "$tmp/distill_${name}.r$r.json"; run_hf "$m" "$tmp/hf_${name}.r$r.json"
    else
      run_hf "$m" "$tmp/hf_${name}.r$r.json"; run_distill "$m" "$tmp/distill_${name}.r$r.json"
    fi
  done
done
python3 - "$tmp" "$OUT_DIR" "$BATCH" "$SEQ" <<'PY'
import glob, json, os, sys, torch
tmp, out, batch, seq = sys.argv[1:]
rows = []
names = sorted({os.path.basename(p)[len("distill_"):].split(".r")[0] for p in glob.glob(os.path.join(tmp, "distill_*.json"))})
for name in names:
    d = [json.load(open(p))[0] for p in sorted(glob.glob(os.path.join(tmp, f"distill_{name}.r*.json")))]
    h = [[json.loads(l) for l in open(p) if l.strip()][0] for p in sorted(glob.glob(os.path.join(tmp, f"hf_{name}.r*.json")))]
    dt = [x["prefill_tokens_per_s"] for x in d]
    ht = [x["prefill_tokens_per_s"] for x in h]
    rows.append({"model": name, "batch": int(batch), "seq_len": int(seq), "rounds": len(dt),
                 "distill_tokens_per_s": sum(dt) / len(dt), "hf_eager_tokens_per_s": sum(ht) / len(ht),
                 "ratio": (sum(dt) / len(dt)) / (sum(ht) / len(ht)),
                 "distill_rounds": dt, "hf_rounds": ht,
                 "distill_peak_gib": max(x["peak_gib"] for x in d), "hf_peak_gib": max(x["peak_gib"] for x in h)})
meta = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
        "transformers": __import__("transformers").__version__, "rows": rows}
json.dump(meta, open(os.path.join(out, "forward_h200.json"), "w"), indent=2)
with open(os.path.join(out, "forward_h200.md"), "w") as f:
    f.write(f"# bf16 forward throughput, {meta['gpu']}\n\n")
    f.write(f"Random weights at real shapes, batch {batch} x {seq} tokens, logits for every position, "
            f"measured in one run by `scripts/bench/bench_forward.sh` (torch {meta['torch']}, "
            f"transformers {meta['transformers']}, SDPA attention for both; mean of {rows[0]['rounds']} rounds "
            f"in alternating order, 3 warm-up + 10 timed forwards each).\n\n")
    f.write("| model | distill tok/s | HF eager tok/s | ratio | distill peak GiB | HF peak GiB |\n|---|---|---|---|---|---|\n")
    for r in rows:
        f.write(f"| {r['model']} | {r['distill_tokens_per_s']:.0f} | {r['hf_eager_tokens_per_s']:.0f} | "
                f"{r['ratio']:.2f} | {r['distill_peak_gib']:.1f} | {r['hf_peak_gib']:.1f} |\n")
print(open(os.path.join(out, "forward_h200.md")).read())
PY
