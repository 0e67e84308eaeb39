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
for m in "${MODELS[@]}"; do
  name=$(basename "$m")
  "$BIN" bench --random-weights --model "$m" --batch "$BATCH" --prompt-len "$SEQ" --dtype bf16 --device cuda \
    --warmup 2 --iters 5 --json "$tmp/distill_$name.json"
  python3 scripts/bench/forward_peer.py --model "$m" --batch "$BATCH" --prompt-len "$SEQ" > "$tmp/hf_$name.json"
done
python3 - "$tmp" "$OUT_DIR" "$BATCH" "$SEQ" <<'PY'
import glob, json, os, sys, torch
tmp, out, batch, seq = sys.argv[1:]
rows = []
for path in sorted(glob.glob(os.path.join(tmp, "distill_*.json"))):
    name = os.path.basename(path)[len("distill_"):-5]
    d = json.load(open(path))[0]
    h = [json.loads(l) for l in open(os.path.join(tmp, f"hf_{name}.json")) if l.strip()][0]
    rows.append({"model": name, "batch": int(batch), "seq_len": int(seq),
                 "distill_tokens_per_s": d["prefill_tokens_per_s"], "hf_eager_tokens_per_s": h["prefill_tokens_per_s"],
                 "ratio": d["prefill_tokens_per_s"] / h["prefill_tokens_per_s"],
                 "distill_peak_gib": d["peak_gib"], "hf_peak_gib": h["peak_gib"]})
meta = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
        "transformers": __import__("transformers").__version__, "rows": rows}
json.dump(meta, open(os.path.join(out, "forward_h200.json"), "w"), indent=2)
with open(os.path.join(out, "forward_h200.md"), "w") as f:
    f.write(f"# bf16 forward throughput, {meta['gpu']}\n\n")
    f.write(f"Random weights at real shapes, batch {batch} x {seq} tokens, logits for every position, "
            f"measured in one run by `scripts/bench/bench_forward.sh` (torch {meta['torch']}, "
            f"transformers {meta['transformers']}, SDPA attention for both).\n\n")
    f.write("| model | distill tok/s | HF eager tok/s | ratio | distill peak GiB | HF peak GiB |\n|---|---|---|---|---|---|\n")
    for r in rows:
        f.write(f"| {r['model']} | {r['distill_tokens_per_s']:.0f} | {r['hf_eager_tokens_per_s']:.0f} | "
                f"{r['ratio']:.2f} | {r['distill_peak_gib']:.1f} | {r['hf_peak_gib']:.1f} |\n")
print(open(os.path.join(out, "forward_h200.md")).read())
PY
