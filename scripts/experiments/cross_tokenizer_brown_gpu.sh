#!/usr/bin/env bash
# Cross-tokenizer distillation at small scale on one GPU (issue #7): a Qwen-tokenizer teacher that is
# clearly better than the students, GPT-2-tokenizer students, the Brown corpus. The CPU version
# (cross_tokenizer_brown.sh) is the same design at a scale where the teacher is only 2-4% better.
#
#   scripts/experiments/cross_tokenizer_brown_gpu.sh             # build/distill, output in runs/xtok_brown_gpu
#   DISTILL_BIN=... OUT=... SEEDS="1 2 3" STEPS=... scripts/experiments/cross_tokenizer_brown_gpu.sh
#
# 1. teacher: Qwen2 shape (hidden 512, 8 layers, Qwen's 151936 tied rows), plain cross-entropy,
#    TEACHER_STEPS steps of MB x SEQ tokens (about 3 passes over the training text by default);
# 2. base: the pretrained student, OPT shape (hidden 128, 4 layers, GPT-2's 50272 tied rows), plain
#    cross-entropy for BASE_STEPS steps, exported;
# 3. from that one base, per seed in SEEDS (data order): CE only, align, transplant (new rows `low`,
#    the default), STEPS steps each with the same lr, schedule and data order; transplant-step0: the
#    transplanted base after one step at lr 1e-12 (what transplant starts from);
# 4. distill eval (fp32) on all of brown_valid.jsonl in windows of SEQ tokens: bits per byte, which does
#    not depend on the tokenizer.
# Writes $OUT/results.md, $OUT/results.json (with the training curves and the runs' log lines about
# the transplant and the alignment) and $OUT/times.tsv. Arms already trained are skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${DISTILL_BIN:-build/distill}
OUT=${OUT:-runs/xtok_brown_gpu}
TEACHER_STEPS=${TEACHER_STEPS:-1000}
BASE_STEPS=${BASE_STEPS:-300}
STEPS=${STEPS:-300}
SEEDS=${SEEDS:-"1 2 3"}
SEQ=${SEQ:-256}
MB=${MB:-16}
export DEVICE=${DEVICE:-cuda} PRECISION=${PRECISION:-bf16} CHUNK_TOKENS=${CHUNK_TOKENS:-4096} LOG_EVERY=${LOG_EVERY:-25}
source scripts/experiments/xtok_common.sh

[[ -f .testdata/demo/brown_train.jsonl ]] || python3 scripts/make_demo_data.py
mkdir -p "$OUT/models/teacher-shape" "$OUT/models/student-shape"
# HELDOUT_EVERY > 1 keeps every k-th held-out document (for quick checks; the results use all).
awk -v k="${HELDOUT_EVERY:-1}" '(NR - 1) % k == 0' .testdata/demo/brown_valid.jsonl > "$OUT/heldout.jsonl"
: > "$OUT/times.tsv"

cat > "$OUT/models/teacher-shape/config.json" <<'JSON'
{"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 151936,
 "hidden_size": 512, "intermediate_size": 1536, "num_hidden_layers": 8, "num_attention_heads": 8,
 "num_key_value_heads": 2, "max_position_embeddings": 4096, "rms_norm_eps": 1e-06,
 "rope_theta": 1000000.0, "tie_word_embeddings": true, "bos_token_id": 151643,
 "eos_token_id": 151643, "dtype": "float32"}
JSON
cat > "$OUT/models/student-shape/config.json" <<'JSON'
{"architectures": ["OPTForCausalLM"], "model_type": "opt", "vocab_size": 50272, "hidden_size": 128,
 "word_embed_proj_dim": 128, "ffn_dim": 512, "num_hidden_layers": 4, "num_attention_heads": 4,
 "max_position_embeddings": 2048, "activation_function": "relu", "do_layer_norm_before": true,
 "enable_bias": true, "layer_norm_elementwise_affine": true, "tie_word_embeddings": true,
 "bos_token_id": 2, "eos_token_id": 2, "pad_token_id": 1, "dtype": "float32"}
JSON

START=$(date +%s)
xtok_config teacher "student.path=$OUT/models/teacher-shape" "student.init=random" "student.tokenizer=.testdata/qwen3" \
  "loss.kind=ce" "train.max_steps=$TEACHER_STEPS" "optim.lr=1e-3" \
  "schedule.warmup_steps=$((TEACHER_STEPS / 20 + 1))" "data.seed=7"
xtok_run teacher
xtok_config base "student.path=$OUT/models/student-shape" "student.init=random" "loss.kind=ce" \
  "train.max_steps=$BASE_STEPS" "optim.lr=3e-3" "schedule.warmup_steps=$((BASE_STEPS / 20 + 1))" "data.seed=7"
xtok_run base .testdata/gpt2

teacher=("teacher.path=$OUT/teacher-export" "teacher.dtype=bf16")
xtok_config transplant-step0 "${teacher[@]}" "loss.cross_tokenizer=transplant" "train.max_steps=1" \
  "optim.lr=1e-12" "schedule.warmup_steps=0" "schedule.decay=constant"
xtok_run transplant-step0
for seed in $SEEDS; do
  common=("train.max_steps=$STEPS" "schedule.warmup_steps=$((STEPS / 20 + 1))" "data.seed=$seed" "train.seed=$seed")
  xtok_config "ce-s$seed" "loss.kind=ce" "${common[@]}"
  xtok_config "align-s$seed" "${teacher[@]}" "loss.cross_tokenizer=align" "${common[@]}"
  xtok_config "transplant-s$seed" "${teacher[@]}" "loss.cross_tokenizer=transplant" "${common[@]}"
  xtok_run "ce-s$seed" .testdata/gpt2
  xtok_run "transplant-s$seed"
  xtok_run "align-s$seed" .testdata/gpt2
done
printf 'total\t%s\t\n' $(($(date +%s) - START)) >> "$OUT/times.tsv"

python3 - "$OUT" "$STEPS" "$BASE_STEPS" "$TEACHER_STEPS" "$SEEDS" <<'PY'
import json, re, statistics, sys
out, steps, bsteps, tsteps, seeds = sys.argv[1:]
seeds = seeds.split()
ev = lambda name: json.load(open(f"{out}/eval-{name}.json"))
keep = lambda e: {k: e[k] for k in ("bits_per_byte", "mean_ce", "tokens", "bytes")}
res = {"settings": {"teacher_steps": int(tsteps), "base_steps": int(bsteps), "steps": int(steps), "seeds": seeds}}
lines = ["| model | steps | held-out tokens | bits per byte (mean ± sd) | vs CE only, same seed (mean, min .. max) |",
         "|---|---|---|---|---|"]
for name, label, n in (("teacher", "teacher (Qwen tokenizer, CE)", tsteps),
                       ("base", "base student (GPT-2 tokenizer, CE)", bsteps),
                       ("transplant-step0", "base after transplant, untrained (Qwen tokenizer)", f"{bsteps} + 0")):
    res[name] = keep(ev(name))
    lines.append(f"| {label} | {n} | {res[name]['tokens']} | {res[name]['bits_per_byte']:.4f} | |")
ce = {s: ev(f"ce-s{s}")["bits_per_byte"] for s in seeds}
for name, label in (("ce", "CE only (GPT-2 tokenizer)"), ("transplant", "`transplant` (Qwen tokenizer)"),
                    ("align", "`align` (GPT-2 tokenizer)")):
    per = {s: keep(ev(f"{name}-s{s}")) for s in seeds}
    bpb = [per[s]["bits_per_byte"] for s in seeds]
    rel = [per[s]["bits_per_byte"] / ce[s] - 1 for s in seeds]
    r = res[name] = {"per_seed": per, "bpb_mean": statistics.mean(bpb),
                     "bpb_sd": statistics.stdev(bpb) if len(bpb) > 1 else 0.0,
                     "vs_ce_mean": statistics.mean(rel), "vs_ce_min": min(rel), "vs_ce_max": max(rel)}
    vs = "" if name == "ce" else f"{100 * r['vs_ce_mean']:+.2f}% ({100 * r['vs_ce_min']:+.2f} .. {100 * r['vs_ce_max']:+.2f})"
    lines.append(f"| student, {label} | {bsteps} + {steps} | {per[seeds[0]]['tokens']} | {r['bpb_mean']:.4f} ± "
                 f"{r['bpb_sd']:.4f} ({', '.join(f'{b:.4f}' for b in bpb)}) | {vs} |")
    rows = [[json.loads(l) for l in open(f"{out}/{name}-s{s}/metrics.jsonl") if '"ce_loss"' in l] for s in seeds]
    r["train_ce_curve_mean"] = {"step": [x["step"] for x in rows[0]],
                                "ce_loss": [round(statistics.mean(rs[k]["ce_loss"] for rs in rows), 4)
                                            for k in range(min(map(len, rows)))]}
def grep(path, pat):
    for line in open(path, errors="replace"):
        m = re.search(pat, line)
        if m:
            return m.group(0)
res["log"] = {"transplant_rows": grep(f"{out}/transplant-step0/train.log", r"transplant: the student now has.*"),
              "transplant_low": grep(f"{out}/transplant-step0/train.log", r"transplant: new head rows start.*"),
              "align_first_batch": grep(f"{out}/align-s{seeds[0]}/train.log", r"align: in the first batch.*")}
res["times_s_train_eval"] = {l.split("\t")[0]: [int(x) for x in l.rstrip("\n").split("\t")[1:] if x]
                             for l in open(f"{out}/times.tsv")}
open(f"{out}/results.md", "w").write("\n".join(lines) + "\n")
json.dump(res, open(f"{out}/results.json", "w"), indent=2)
print("\n".join(lines))
PY
