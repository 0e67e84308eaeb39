#!/usr/bin/env bash
# Batch-1 bf16 decode on the GPU: distill bench (KV cache) against HF transformers generate (eager),
# for the teacher/student pairs Qwen2.5-7B / Qwen2.5-0.5B and LLaMA-2-7B / OPT-125m, random weights
# at real shapes, in one run. Writes $OUT_DIR/decode_h200.json and .md (default docs/benchmarks).
#   scripts/bench/bench_decode.sh [PROMPT_LEN] [GEN_LEN]
set -euo pipefail
cd "$(dirname "$0")/../.."
PROMPT=${1:-128}
GEN=${2:-128}
OUT_DIR=${OUT_DIR:-docs/benchmarks}
BIN=${DISTILL_BIN:-build/distill}
mkdir -p "$OUT_DIR"
tmp=$(mktemp -d)
i=0
PAIRS=${PAIRS:-"bench/configs/qwen2.5-7b,bench/configs/qwen2.5-0.5b bench/configs/llama-2-7b,bench/configs/opt-125m"}
for pair in $PAIRS; do
  set -- ${pair/,/ }
  "$BIN" bench --random-weights --model "$1" --model "$2" --batch 1 --prompt-len "$PROMPT" --gen-len "$GEN" \
    --dtype bf16 --device cuda --warmup 1 --iters 2 --json "$tmp/distill_$i.json"
  python3 scripts/bench/decode_peer.py --model "$1" --model "$2" --prompt-len "$PROMPT" --gen-len "$GEN" > "$tmp/hf_$i.json"
  i=$((i + 1))
done
python3 - "$tmp" "$OUT_DIR" "$PROMPT" "$GEN" <<'PY'
import glob, json, os, sys, torch, transformers
tmp, out, prompt, gen = sys.argv[1:]
rows = []
for path in sorted(glob.glob(os.path.join(tmp, "distill_*.json"))):
    d = json.load(open(path))
    h = [json.loads(l) for l in open(path.replace("distill_", "hf_")) if l.strip()]
    for dr, hr in zip(d, h):
        rows.append({"model": os.path.basename(dr["model"]), "parameters": dr["parameters"],
                     "distill_decode_tokens_per_s": dr["decode_tokens_per_s"], "distill_ms_per_token": dr["decode_ms_per_token"],
                     "hf_decode_tokens_per_s": hr["decode_tokens_per_s"], "hf_ms_per_token": hr["decode_ms_per_token"],
                     "distill_first_run_ms_per_token": dr["decode_first_run_ms_per_token"],
                     "distill_cuda_graphs": dr.get("cuda_graphs", False),
                     "distill_no_graphs_ms_per_token": dr.get("decode_eager_ms_per_token"),
                     "hf_first_run_ms_per_token": hr["decode_first_run_ms_per_token"],
                     "ratio": dr["decode_tokens_per_s"] / hr["decode_tokens_per_s"],
                     "distill_peak_gib": dr["peak_gib"], "vs_teacher": dr.get("vs_first")})
meta = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "transformers": transformers.__version__,
        "batch": 1, "prompt_len": int(prompt), "gen_len": int(gen), "rows": rows}
json.dump(meta, open(os.path.join(out, "decode_h200.json"), "w"), indent=2)
with open(os.path.join(out, "decode_h200.md"), "w") as f:
    f.write(f"# Batch-1 bf16 decode, {meta['gpu']}\n\nRandom weights at real shapes, prompt {prompt} tokens, "
            f"{gen} generated, greedy, KV cache; measured in one run by `scripts/bench/bench_decode.sh` "
            f"(torch {meta['torch']}, transformers {meta['transformers']}; HF: eager `generate`, SDPA). "
            "ms/token is the best of 2 runs after a warm-up; 'first run' is the first of those two, where most "
            "key lengths are new (what one generate call sees; distill's includes capturing its CUDA graphs). "
            "'no graphs' is distill's ordinary cached forward launched op by op, measured in the same process.\n\n")
    f.write("| model | params | distill tok/s | distill ms/token | HF tok/s | HF ms/token | distill / HF | "
            "first run: distill ms/token | first run: HF ms/token | distill no graphs ms/token | distill peak GiB |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n")
    for r in rows:
        f.write(f"| {r['model']} | {r['parameters'] / 1e6:.0f}M | {r['distill_decode_tokens_per_s']:.1f} | "
                f"{r['distill_ms_per_token']:.2f} | {r['hf_decode_tokens_per_s']:.1f} | {r['hf_ms_per_token']:.2f} | "
                f"{r['ratio']:.2f} | {r['distill_first_run_ms_per_token']:.2f} | {r['hf_first_run_ms_per_token']:.2f} | "
                f"{r['distill_no_graphs_ms_per_token'] or float('nan'):.2f} | {r['distill_peak_gib']:.2f} |\n")
    f.write("\nStudent against teacher (distill, same run): ")
    f.write("; ".join(f"{r['model']}: decode {r['vs_teacher']['decode_speedup']:.1f}x, peak memory "
                      f"{r['vs_teacher']['memory_fraction']:.3f} of the teacher's" for r in rows if r["vs_teacher"]))
    f.write(".\n")
print(open(os.path.join(out, "decode_h200.md")).read())
PY
