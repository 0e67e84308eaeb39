#!/usr/bin/env bash
# Cross-tokenizer distillation at tiny scale (issue #7), on the CPU: a teacher with the Qwen
# tokenizer and a student with the GPT-2 tokenizer, on the Brown corpus.
#
#   scripts/experiments/cross_tokenizer_brown.sh            # build/distill, output in runs/xtok_brown
#   DISTILL_BIN=... OUT=... STEPS=... TEACHER_STEPS=... scripts/experiments/cross_tokenizer_brown.sh
#
# 1. teacher: a small Qwen2 (Qwen tokenizer, 151936 rows) trained with plain cross-entropy;
# 2. three students of one OPT shape (GPT-2 tokenizer, 50272 rows), same seed, data order, steps and
#    learning rate: ce (no teacher), align, transplant (the student takes the teacher's vocabulary);
# 3. distill eval on held-out Brown documents (windows of 256 tokens): bits per byte of the held-out text, which does not
#    depend on the tokenizer (nats summed over the predicted tokens / ln 2 / their bytes).
# Writes $OUT/results.md (the table of docs/cross-tokenizer.md) and $OUT/results.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${DISTILL_BIN:-build/distill}
OUT=${OUT:-runs/xtok_brown}
STEPS=${STEPS:-200}
TEACHER_STEPS=${TEACHER_STEPS:-400}
SEQ=${SEQ:-64}
MB=${MB:-4}

[[ -f .testdata/demo/brown_train.jsonl ]] || python3 scripts/make_demo_data.py
mkdir -p "$OUT/models/teacher-shape" "$OUT/models/student-shape"
# Held out: the first HELDOUT documents of brown_valid.jsonl (held-out Brown files; a CPU budget).
head -n "${HELDOUT:-12}" .testdata/demo/brown_valid.jsonl > "$OUT/heldout.jsonl"

cat > "$OUT/models/teacher-shape/config.json" <<'JSON'
{"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 151936,
 "hidden_size": 64, "intermediate_size": 192, "num_hidden_layers": 3, "num_attention_heads": 4,
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

# config NAME KEY=VALUE... : a run config from the common settings and overrides (python json).
config() {
  local name=$1; shift
  python3 - "$OUT" "$name" "$SEQ" "$MB" "$@" <<'PY'
import json, sys
out, name, seq, mb, *sets = sys.argv[1:]
c = {
  "student": {"path": f"{out}/models/student-shape", "init": "random", "tokenizer": ".testdata/gpt2", "dtype": "fp32"},
  "data": {"train": [".testdata/demo/brown_train.jsonl"], "valid": [f"{out}/heldout.jsonl"],
           "seq_len": int(seq), "seed": 7, "cache_dir": f"{out}/data-cache"},
  "loss": {"kind": "forward_kl", "temperature": 2.0, "alpha": 0.5, "chunk_tokens": 512, "cross_tokenizer": "none"},
  "optim": {"lr": 3e-3, "weight_decay": 0.01, "grad_clip": 1.0},
  "schedule": {"warmup_steps": 2, "decay": "cosine", "min_lr_ratio": 0.1},
  "train": {"device": "cpu", "precision": "fp32", "micro_batch": int(mb), "grad_accum": 1, "max_steps": 300,
            "log_every": 25, "eval_every": 0, "seed": 7},
  "checkpoint": {"dir": f"{out}/{name}", "every_steps": 0, "keep_last": 1},
}
for s in sets:
    key, value = s.split("=", 1)
    *path, last = key.split(".")
    node = c
    for p in path:
        node = node.setdefault(p, {})
    try:
        node[last] = json.loads(value)
    except json.JSONDecodeError:
        node[last] = value
json.dump(c, open(f"{out}/{name}.json", "w"), indent=2)
PY
  echo "$OUT/$name.json"
}

run() {  # run NAME [TOKENIZER]: train (resumes if interrupted), export, eval
  local name=$1 tok=()
  # The GPT-2 files (encoder.json + vocab.bpe) are not copied into exports: name them for eval.
  [[ $# -gt 1 ]] && tok=(--tokenizer "$2")
  if [[ ! -d "$OUT/$name-export" ]]; then
    "$BIN" train --config "$OUT/$name.json"
    "$BIN" export "$OUT/$name" --out "$OUT/$name-export"
  fi
  "$BIN" eval --model "$OUT/$name-export" "${tok[@]}" --data "$OUT/heldout.jsonl" --max-length 256 --stride 256 \
    --json "$OUT/eval-$name.json" > /dev/null
}

# ---- teacher: Qwen tokenizer, plain cross-entropy
config teacher "schedule.warmup_steps=$((TEACHER_STEPS / 20 + 1))" "student.path=$OUT/models/teacher-shape" "student.tokenizer=.testdata/qwen3" "loss.kind=ce" \
  "train.max_steps=$TEACHER_STEPS" "optim.lr=2e-3" > /dev/null
run teacher

# ---- students: GPT-2 tokenizer
teacher=("teacher.path=$OUT/teacher-export" "teacher.dtype=fp32")
config student-ce "loss.kind=ce" "schedule.warmup_steps=$((STEPS / 20 + 1))" "train.max_steps=$STEPS" > /dev/null
config student-align "${teacher[@]}" "schedule.warmup_steps=$((STEPS / 20 + 1))" "loss.cross_tokenizer=align" "train.max_steps=$STEPS" > /dev/null
config student-transplant "${teacher[@]}" "schedule.warmup_steps=$((STEPS / 20 + 1))" "loss.cross_tokenizer=transplant" "train.max_steps=$STEPS" > /dev/null
run student-ce .testdata/gpt2
run student-align .testdata/gpt2
run student-transplant

python3 - "$OUT" "$STEPS" "$TEACHER_STEPS" <<'PY'
import json, sys
out, steps, tsteps = sys.argv[1:]
rows = [("teacher (Qwen tokenizer, CE, %s steps)" % tsteps, "teacher"),
        ("student CE only (GPT-2 tokenizer)", "student-ce"),
        ("student align (GPT-2 tokenizer)", "student-align"),
        ("student transplant (Qwen tokenizer after transplant)", "student-transplant")]
res = {}
lines = ["| model | steps | held-out tokens | mean CE (nats/token) | bits per byte |", "|---|---|---|---|---|"]
for label, name in rows:
    e = json.load(open(f"{out}/eval-{name}.json"))
    res[name] = e
    n = tsteps if name == "teacher" else steps
    lines.append(f"| {label} | {n} | {e['tokens']} | {e['mean_ce']:.4f} | {e['bits_per_byte']:.4f} |")
open(f"{out}/results.md", "w").write("\n".join(lines) + "\n")
json.dump({k: {"bits_per_byte": v["bits_per_byte"], "mean_ce": v["mean_ce"], "tokens": v["tokens"], "bytes": v["bytes"]}
           for k, v in res.items()}, open(f"{out}/results.json", "w"), indent=2)
print("\n".join(lines))
PY
