#!/usr/bin/env bash
# Cross-tokenizer distillation at tiny scale (issue #7), on the CPU: a teacher with the Qwen
# tokenizer and a student with the GPT-2 tokenizer, on the Brown corpus.
#
#   scripts/experiments/cross_tokenizer_brown.sh            # build/distill, output in runs/xtok_brown
#   DISTILL_BIN=... OUT=... SEEDS="1 2 3" STEPS=... BASE_STEPS=... TEACHER_STEPS=... scripts/experiments/cross_tokenizer_brown.sh
#   MAIN=0 LONG_STEPS=180 scripts/experiments/cross_tokenizer_brown.sh   # only the longer continuations (5.)
#
# 1. teacher: a small Qwen2 (Qwen tokenizer, 151936 rows) trained with plain cross-entropy, larger and
#    trained on more tokens than the students, so that it has something to teach;
# 2. base: one OPT-shaped student (GPT-2 tokenizer, 50272 rows) pretrained with plain cross-entropy
#    for BASE_STEPS and exported: the "pretrained student" both strategies are meant for (transplant
#    builds its new rows from the student's own trained embeddings);
# 3. from that same base, for each seed in SEEDS (data order), three continuations with the same
#    steps, learning rate, schedule and data order: ce (no teacher), align, transplant (the student
#    takes the teacher's vocabulary; new rows from the pieces' rows) and transplant-mean (the same
#    with loss.transplant_new_rows = mean: new head rows start at the mean row) and transplant-low
#    (loss.transplant_new_rows = low: new head rows start below the mean row, fitted on training text).
#    Also transplant-step0, transplant-mean-step0 and transplant-low-step0: the transplanted base after
#    one step at a learning rate of 1e-12, i.e. what each transplant starts from;
# 4. distill eval on the held-out Brown documents (windows of SEQ tokens, the training length):
#    bits per byte of the held-out text, which does not depend on the tokenizer (nats summed over
#    the predicted tokens / ln 2 / the bytes they spell).
# 5. with LONG_STEPS > 0: for each seed in LONG_SEEDS (default 1), the CE-only, transplant (new rows
#    low, the default) and align continuations for LONG_STEPS steps instead of STEPS: the same lr and
#    warmup steps as the STEPS-step runs, cosine over the longer run (arms ce-long-sN,
#    transplant-low-long-sN, align-long-sN; results in $OUT/results-long.md and $OUT/results-long.json).
#    MAIN=0 skips the STEPS-step continuations and their results (teacher and base must be trained).
# Arms already trained are skipped (their export exists), and so is an evaluation already written
# after the arm's export.
# Writes $OUT/results.md (the numbers of docs/cross-tokenizer.md's table), $OUT/results.json (also the
# diagnostics: transplant's rows and softmax mass, align's first batch, training curves) and $OUT/times.tsv
# (wall seconds per stage).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${DISTILL_BIN:-build/distill}
OUT=${OUT:-runs/xtok_brown}
TEACHER_STEPS=${TEACHER_STEPS:-360}
BASE_STEPS=${BASE_STEPS:-120}
STEPS=${STEPS:-60}
SEEDS=${SEEDS:-"1 2 3"}
LONG_STEPS=${LONG_STEPS:-0}
LONG_SEEDS=${LONG_SEEDS:-1}
MAIN=${MAIN:-1}
SEQ=${SEQ:-64}
MB=${MB:-4}

[[ -f .testdata/demo/brown_train.jsonl ]] || python3 scripts/make_demo_data.py
mkdir -p "$OUT/models/teacher-shape" "$OUT/models/student-shape"
# Held out: every HELDOUT_EVERY-th document of brown_valid.jsonl (the ten held-out Brown files, every
# 50th, spread over the genres; every 4th document: 15 documents from all ten files, a CPU budget).
awk -v k="${HELDOUT_EVERY:-4}" '(NR - 1) % k == 0' .testdata/demo/brown_valid.jsonl > "$OUT/heldout.jsonl"
: > "$OUT/times.tsv"

cat > "$OUT/models/teacher-shape/config.json" <<'JSON'
{"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 151936,
 "hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 4, "num_attention_heads": 4,
 "num_key_value_heads": 2, "max_position_embeddings": 1024, "rms_norm_eps": 1e-06,
 "rope_theta": 1000000.0, "tie_word_embeddings": true, "bos_token_id": 151643,
 "eos_token_id": 151643, "dtype": "float32"}
JSON
cat > "$OUT/models/student-shape/config.json" <<'JSON'
{"architectures": ["OPTForCausalLM"], "model_type": "opt", "vocab_size": 50272, "hidden_size": 48,
 "word_embed_proj_dim": 48, "ffn_dim": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
 "max_position_embeddings": 1024, "activation_function": "relu", "do_layer_norm_before": true,
 "enable_bias": true, "layer_norm_elementwise_affine": true, "tie_word_embeddings": true,
 "bos_token_id": 2, "eos_token_id": 2, "pad_token_id": 1, "dtype": "float32"}
JSON

source scripts/experiments/xtok_common.sh
config() { xtok_config "$@"; }
run() { xtok_run "$@"; }

START=$(date +%s)
# ---- teacher: Qwen tokenizer, plain cross-entropy; wider and deeper than the student, and trained
# on more tokens than the student sees in all (base + continuation)
config teacher "student.path=$OUT/models/teacher-shape" "student.init=random" "student.tokenizer=.testdata/qwen3" \
  "loss.kind=ce" "train.max_steps=$TEACHER_STEPS" "train.log_every=20" \
  "optim.lr=2e-3" "schedule.warmup_steps=$((TEACHER_STEPS / 20 + 1))" "data.seed=7"
run teacher

# ---- base: the pretrained student, GPT-2 tokenizer, plain cross-entropy from random init
config base "student.path=$OUT/models/student-shape" "student.init=random" "loss.kind=ce" \
  "train.max_steps=$BASE_STEPS" "optim.lr=3e-3" "schedule.warmup_steps=$((BASE_STEPS / 20 + 1))" "data.seed=7" \
  "train.log_every=20"
run base .testdata/gpt2

# ---- what transplant starts from: the transplanted base, one step at lr 1e-12 (no change)
teacher=("teacher.path=$OUT/teacher-export" "teacher.dtype=fp32")
config transplant-step0 "${teacher[@]}" "loss.cross_tokenizer=transplant" "loss.transplant_new_rows=pieces" "train.max_steps=1" \
  "optim.lr=1e-12" "schedule.warmup_steps=0" "schedule.decay=constant"
run transplant-step0
# The same with loss.transplant_new_rows = mean: new head rows start at the mean row (low probability).
config transplant-mean-step0 "${teacher[@]}" "loss.cross_tokenizer=transplant" "loss.transplant_new_rows=mean" \
  "train.max_steps=1" "optim.lr=1e-12" "schedule.warmup_steps=0" "schedule.decay=constant"
run transplant-mean-step0
# loss.transplant_new_rows = low: new head rows start below the mean row (their logits lowered along
# the mean final hidden state of 4096 training tokens by the amount that minimises their cross-entropy).
config transplant-low-step0 "${teacher[@]}" "loss.cross_tokenizer=transplant" "loss.transplant_new_rows=low" \
  "train.max_steps=1" "optim.lr=1e-12" "schedule.warmup_steps=0" "schedule.decay=constant"
run transplant-low-step0

# ---- the continuations from the base, per seed: same steps, lr, schedule and data order
[[ $MAIN == 0 ]] && SEEDS_RUN="" || SEEDS_RUN=$SEEDS
for seed in $SEEDS_RUN; do
  common=("train.max_steps=$STEPS" "schedule.warmup_steps=$((STEPS / 20 + 1))" "data.seed=$seed" "train.seed=$seed")
  config "ce-s$seed" "loss.kind=ce" "${common[@]}"
  config "align-s$seed" "${teacher[@]}" "loss.cross_tokenizer=align" "${common[@]}"
  config "transplant-s$seed" "${teacher[@]}" "loss.cross_tokenizer=transplant" "loss.transplant_new_rows=pieces" \
    "${common[@]}"
  config "transplant-mean-s$seed" "${teacher[@]}" "loss.cross_tokenizer=transplant" "loss.transplant_new_rows=mean" \
    "${common[@]}"
  config "transplant-low-s$seed" "${teacher[@]}" "loss.cross_tokenizer=transplant" "loss.transplant_new_rows=low" \
    "${common[@]}"
  run "ce-s$seed" .testdata/gpt2
  run "align-s$seed" .testdata/gpt2
  run "transplant-s$seed"
  run "transplant-mean-s$seed"
  run "transplant-low-s$seed"
done
# ---- longer continuations (LONG_STEPS > 0): CE only, transplant (new rows low) and align, the same lr
# and warmup steps as above, cosine over LONG_STEPS; CE and transplant first (align is the slowest)
if (( LONG_STEPS > 0 )); then
  for seed in $LONG_SEEDS; do
    long=("train.max_steps=$LONG_STEPS" "schedule.warmup_steps=$((STEPS / 20 + 1))" "data.seed=$seed" "train.seed=$seed")
    config "ce-long-s$seed" "loss.kind=ce" "${long[@]}"
    config "transplant-low-long-s$seed" "${teacher[@]}" "loss.cross_tokenizer=transplant" "loss.transplant_new_rows=low" \
      "${long[@]}"
    config "align-long-s$seed" "${teacher[@]}" "loss.cross_tokenizer=align" "${long[@]}"
    run "ce-long-s$seed" .testdata/gpt2
    run "transplant-low-long-s$seed"
    [[ ${SKIP_ALIGN_LONG:-0} == 1 ]] || run "align-long-s$seed" .testdata/gpt2
  done
  python3 - "$OUT" "$LONG_STEPS" "$STEPS" "$BASE_STEPS" "$LONG_SEEDS" <<'PY'
import json, os, sys
out, lsteps, steps, bsteps, seeds = sys.argv[1:]
ev = lambda name: json.load(open(f"{out}/eval-{name}.json"))
keep = lambda e: {k: e[k] for k in ("bits_per_byte", "mean_ce", "tokens", "bytes")}
res = {"settings": {"long_steps": int(lsteps), "warmup_steps": int(steps) // 20 + 1, "seeds": seeds.split()}}
lines = ["| model | steps | held-out tokens | bits per byte | vs CE only (same seed, same steps) |", "|---|---|---|---|---|"]
for s in seeds.split():
    ce = ev(f"ce-long-s{s}")["bits_per_byte"]
    for name, label in (("ce", "CE only (GPT-2 tokenizer)"),
                        ("transplant-low", "`transplant`, `transplant_new_rows` low (Qwen tokenizer)"),
                        ("align", "`align` (GPT-2 tokenizer)")):
        arm = f"{name}-long-s{s}"
        if not os.path.exists(f"{out}/eval-{arm}.json"):
            continue
        e = keep(ev(arm))
        e["vs_ce"] = e["bits_per_byte"] / ce - 1
        log = [json.loads(l) for l in open(f"{out}/{arm}/metrics.jsonl") if '"ce_loss"' in l]
        e["train_ce_curve"] = {"step": [r["step"] for r in log], "ce_loss": [round(r["ce_loss"], 4) for r in log]}
        res[arm] = e
        vs = "" if name == "ce" else f"{100 * e['vs_ce']:+.2f}%"
        lines.append(f"| student {label}, seed {s}, one seed | {bsteps} + {lsteps} | {e['tokens']} | "
                     f"{e['bits_per_byte']:.4f} | {vs} |")
res["times_s_train_eval"] = {l.split("\t")[0]: [int(x) for x in l.rstrip("\n").split("\t")[1:] if x]
                             for l in open(f"{out}/times.tsv") if "-long-" in l}
open(f"{out}/results-long.md", "w").write("\n".join(lines) + "\n")
json.dump(res, open(f"{out}/results-long.json", "w"), indent=2)
print("\n".join(lines))
PY
fi
printf 'total\t%s\t\n' $(($(date +%s) - START)) >> "$OUT/times.tsv"
[[ $MAIN == 0 ]] && exit 0
"$BIN" encode --tokenizer .testdata/qwen3 --input "$OUT/heldout.jsonl" --output "$OUT/heldout-qwen.jsonl" --threads 1

python3 - "$OUT" "$STEPS" "$BASE_STEPS" "$TEACHER_STEPS" "$SEEDS" "$BIN" "$SEQ" <<'PY'
import array, json, math, re, statistics, struct, subprocess, sys
out, steps, bsteps, tsteps, seeds, bin_, seq = sys.argv[1:]
seeds = seeds.split()
ev = lambda name: json.load(open(f"{out}/eval-{name}.json"))
keep = lambda e: {k: e[k] for k in ("bits_per_byte", "mean_ce", "tokens", "bytes")}
res = {"settings": {"teacher_steps": int(tsteps), "base_steps": int(bsteps), "steps": int(steps), "seeds": seeds},
       "teacher": keep(ev("teacher")), "base": keep(ev("base")), "transplant-step0": keep(ev("transplant-step0")),
       "transplant-mean-step0": keep(ev("transplant-mean-step0")),
       "transplant-low-step0": keep(ev("transplant-low-step0"))}
lines = ["| model | steps | held-out tokens | bits per byte | vs CE only |", "|---|---|---|---|---|"]
def row(label, n, e, vs=""):
    lines.append(f"| {label} | {n} | {e['tokens']} | {e['bits_per_byte']:.4f} | {vs} |")
row("teacher (Qwen tokenizer, CE)", tsteps, res["teacher"])
row("base student (GPT-2 tokenizer, CE)", bsteps, res["base"])
row("base after transplant, untrained (Qwen tokenizer)", f"{bsteps} + 0", res["transplant-step0"])
row("base after transplant with new rows at the mean, untrained", f"{bsteps} + 0", res["transplant-mean-step0"])
row("base after transplant with new rows low, untrained", f"{bsteps} + 0", res["transplant-low-step0"])
ce = {s: ev(f"ce-s{s}")["bits_per_byte"] for s in seeds}
for name, label in (("ce", "CE only (GPT-2 tokenizer)"), ("align", "`align` (GPT-2 tokenizer)"),
                    ("transplant", "`transplant` (Qwen tokenizer)"),
                    ("transplant-mean", "`transplant`, `transplant_new_rows` mean (Qwen tokenizer)"),
                    ("transplant-low", "`transplant`, `transplant_new_rows` low (Qwen tokenizer)")):
    per = {s: keep(ev(f"{name}-s{s}")) for s in seeds}
    bpb = [per[s]["bits_per_byte"] for s in seeds]
    rel = [per[s]["bits_per_byte"] / ce[s] - 1 for s in seeds]  # paired with the same seed's CE run
    res[name] = {"per_seed": per, "bpb_mean": statistics.mean(bpb),
                 "bpb_sd": statistics.stdev(bpb) if len(bpb) > 1 else 0.0,
                 "vs_ce_mean": statistics.mean(rel), "vs_ce_min": min(rel), "vs_ce_max": max(rel)}
    r = res[name]
    spread = f" ± {r['bpb_sd']:.4f}" if len(bpb) > 1 else ""
    vs = "" if name == "ce" else f"{100 * r['vs_ce_mean']:+.2f}% ({100 * r['vs_ce_min']:+.2f} .. {100 * r['vs_ce_max']:+.2f})"
    lines.append(f"| student {label}, from the base | {bsteps} + {steps} | {per[seeds[0]]['tokens']} | "
                 f"{r['bpb_mean']:.4f}{spread} | {vs} |")
    lines.append(f"| &nbsp;&nbsp; per seed ({', '.join(seeds)}) | | | {', '.join(f'{b:.4f}' for b in bpb)} | |")
# Diagnostics from the logs: transplant's rows, align's first-batch alignment.
def grep(path, pat):
    try:
        for line in open(path, errors="replace"):
            m = re.search(pat, line)
            if m:
                return m.group(0)
    except OSError:
        pass
    return None
res["transplant_rows"] = grep(f"{out}/transplant-step0/train.log", r"transplant: the student now has.*")
res["transplant_low_rows"] = grep(f"{out}/transplant-low-step0/train.log", r"transplant: new head rows start.*")
res["align_first_batch"] = grep(f"{out}/align-s{seeds[0]}/train.log", r"align: in the first batch.*")
# The held-out text in Qwen tokens: how many have a row copied from one GPT-2 token (the same
# string in both vocabularies: the same byte-level alphabet) and how many an averaged row.
qv = json.load(open(".testdata/qwen3/tokenizer.json"))["model"]["vocab"]
gpt2 = json.load(open(".testdata/gpt2/encoder.json"))
twins = {i for t, i in qv.items() if t in gpt2}
ids = [i for l in open(f"{out}/heldout-qwen.jsonl") for i in json.loads(l)["ids"]]
res["heldout_qwen_tokens"] = {"total": len(ids), "copied_row": sum(i in twins for i in ids),
                              "averaged_row": sum(i not in twins for i in ids)}
# Where the transplanted students put their probability: distill forward on the first 4 windows of
# SEQ held-out Qwen tokens; the mean softmax mass on the rows without a GPT-2 twin (averaged and mean
# rows), the mean NLL, and the NLL of the twin targets renormalised over the twin rows alone.
twins.add(151643)  # <|endoftext|>: paired with GPT-2's by the vocabulary map
T, W = int(seq), 4
wins = [ids[k * T:(k + 1) * T] for k in range(W)]
flat = array.array("q", [i for w in wins for i in w])
hdr = json.dumps({"input_ids": {"dtype": "I64", "shape": [W, T], "data_offsets": [0, 8 * len(flat)]}}).encode()
hdr += b" " * (-len(hdr) % 8)
with open(f"{out}/diag-input.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(hdr)) + hdr + flat.tobytes())
res["softmax_mass"] = {}
for model in ("transplant-step0", f"transplant-s{seeds[0]}", "transplant-mean-step0", f"transplant-mean-s{seeds[0]}",
              "transplant-low-step0", f"transplant-low-s{seeds[0]}", "teacher"):
    subprocess.run([bin_, "forward", "--model", f"{out}/{model}-export", "--input", f"{out}/diag-input.safetensors",
                    "--output", f"{out}/diag-logits.safetensors"], check=True, capture_output=True)
    raw = open(f"{out}/diag-logits.safetensors", "rb").read()
    hl = struct.unpack("<Q", raw[:8])[0]
    meta = json.loads(raw[8:8 + hl])["logits"]
    V, (a, b) = meta["shape"][2], meta["data_offsets"]
    logits = array.array("f")
    logits.frombytes(raw[8 + hl + a:8 + hl + b])
    is_twin = [i in twins for i in range(V)]
    mass = nll = nll_twin = 0.0
    n = nt = 0
    for w in range(W):
        for t in range(T - 1):
            row = logits[(w * T + t) * V:(w * T + t + 1) * V]
            m = max(row)
            ex = [math.exp(x - m) for x in row]
            z, zt = sum(ex), sum(e for e, k in zip(ex, is_twin) if k)
            tgt = wins[w][t + 1]
            mass += 1 - zt / z
            nll -= row[tgt] - m - math.log(z)
            n += 1
            if is_twin[tgt]:
                nll_twin -= row[tgt] - m - math.log(zt)
                nt += 1
    res["softmax_mass"][model] = {"positions": n, "mass_on_rows_without_twin": round(mass / n, 4),
                                  "mean_nll": round(nll / n, 4), "twin_targets": nt,
                                  "mean_nll_twin_targets_over_twin_rows": round(nll_twin / nt, 4)}
# Training curves (metrics.jsonl, every train.log_every steps): CE per token of the run's own
# tokenizer, mean over the seeds.
curves = {}
for name in ("ce", "align", "transplant", "transplant-mean", "transplant-low"):
    rows = [[json.loads(l) for l in open(f"{out}/{name}-s{s}/metrics.jsonl") if '"ce_loss"' in l] for s in seeds]
    curves[name] = {"step": [r["step"] for r in rows[0]],
                    "ce_loss": [round(statistics.mean(rs[k]["ce_loss"] for rs in rows), 4) for k in range(len(rows[0]))]}
res["train_ce_curves"] = curves
res["times_s"] = {l.split("\t")[0]: [int(x) for x in l.rstrip("\n").split("\t")[1:] if x]
                  for l in open(f"{out}/times.tsv")}
open(f"{out}/results.md", "w").write("\n".join(lines) + "\n")
json.dump(res, open(f"{out}/results.json", "w"), indent=2)
print("\n".join(lines))
PY
