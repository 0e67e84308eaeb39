# Shared by the cross-tokenizer experiment scripts (sourced, not run): writing run configs and
# training + exporting + evaluating one arm.
#
# Reads: BIN (the distill binary), OUT (the run folder), SEQ, MB, and optionally DEVICE (cpu),
# PRECISION (fp32), EVAL_DTYPE (fp32), CHUNK_TOKENS (512), LOG_EVERY (5).

# xtok_config NAME KEY=VALUE... : $OUT/NAME.json from the common settings and the overrides
# (values are JSON where they parse as JSON, strings otherwise).
xtok_config() {
  local name=$1; shift
  python3 - "$OUT" "$name" "$SEQ" "$MB" "${DEVICE:-cpu}" "${PRECISION:-fp32}" "${CHUNK_TOKENS:-512}" \
    "${LOG_EVERY:-5}" "$@" <<'PY'
import json, sys
out, name, seq, mb, device, precision, chunk, log_every, *sets = sys.argv[1:]
c = {
  "student": {"path": f"{out}/base-export", "tokenizer": ".testdata/gpt2", "dtype": "fp32"},
  "data": {"train": [".testdata/demo/brown_train.jsonl"], "seq_len": int(seq), "seed": 1,
           "cache_dir": f"{out}/data-cache"},
  "loss": {"kind": "forward_kl", "temperature": 2.0, "alpha": 0.5, "chunk_tokens": int(chunk),
           "cross_tokenizer": "none"},
  "optim": {"lr": 1e-3, "weight_decay": 0.01, "grad_clip": 1.0},
  "schedule": {"warmup_steps": 10, "decay": "cosine", "min_lr_ratio": 0.1},
  "train": {"device": device, "precision": precision, "micro_batch": int(mb), "grad_accum": 1, "max_steps": 300,
            "log_every": int(log_every), "eval_every": 0, "seed": 7},
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
}

# xtok_run NAME [TOKENIZER]: train (resumes if interrupted), export, evaluate on $OUT/heldout.jsonl in
# windows of SEQ tokens; appends "NAME<TAB>train+export s<TAB>eval s" to $OUT/times.tsv. An arm whose
# export exists is not trained again, and one evaluated after its export is not evaluated again.
xtok_run() {
  local name=$1 tok=() t0 t1 t2 trained=0
  # The GPT-2 files (encoder.json + vocab.bpe) name the tokenizer for eval explicitly.
  [[ $# -gt 1 ]] && tok=(--tokenizer "$2")
  t0=$(date +%s)
  if [[ ! -d "$OUT/$name-export" ]]; then
    "$BIN" train --config "$OUT/$name.json"
    "$BIN" export "$OUT/$name" --out "$OUT/$name-export"
    trained=1
  fi
  t1=$(date +%s)
  if [[ $trained == 0 && "$OUT/eval-$name.json" -nt "$OUT/$name-export" ]]; then
    return 0  # trained and evaluated by an earlier run of the script: nothing to time
  fi
  "$BIN" eval --model "$OUT/$name-export" "${tok[@]}" --data "$OUT/heldout.jsonl" --max-length "$SEQ" --stride "$SEQ" \
    --dtype "${EVAL_DTYPE:-fp32}" --json "$OUT/eval-$name.json" > /dev/null
  t2=$(date +%s)
  printf '%s\t%s\t%s\n' "$name" $((t1 - t0)) $((t2 - t1)) >> "$OUT/times.tsv"
}
