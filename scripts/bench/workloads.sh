# Sourced by the training benchmarks (bench_train.sh, bench_max_micro_batch.sh, bench_train_24gib.sh, ab_train.sh):
# issue #8's three workloads, their pre-tokenized rows and the distill config they share.

# workload NAME -> "teacher_dir student_dir tokenizer" (random weights at real shapes, bench/configs).
workload() {
  case $1 in
    qwen7b_to_0.5b) echo "bench/configs/qwen2.5-7b bench/configs/qwen2.5-0.5b .testdata/qwen3/tokenizer.json" ;;
    qwen1.5b_to_0.5b) echo "bench/configs/qwen2.5-1.5b bench/configs/qwen2.5-0.5b .testdata/qwen3/tokenizer.json" ;;
    llama7b_to_opt125m) echo "bench/configs/llama-2-7b bench/configs/opt-125m-vocab32000 .testdata/llama2/tokenizer.json" ;;
    *) echo "$(basename "$0"): unknown workload '$1' (qwen7b_to_0.5b, qwen1.5b_to_0.5b, llama7b_to_opt125m)" >&2; exit 2 ;;
  esac
}

# make_rows FILE N: N JSONL rows of 2049 random ids below 32000 (valid in every vocabulary here),
# the same rows for every benchmark (seed 8).
make_rows() {
  python3 - "$1" "$2" <<'PY'
import json, random, sys
random.seed(8)
with open(sys.argv[1], "w") as f:
    for _ in range(int(sys.argv[2])):
        f.write(json.dumps({"input_ids": [random.randrange(32000) for _ in range(2049)]}) + "\n")
PY
}

# distill_config TEACHER STUDENT TOKENIZER DATA RUN_DIR INIT MICRO_BATCH STEPS LOG_EVERY [TRAIN_JSON [TEACHER_JSON [LOSS_JSON]]]:
# the benchmarks' distill config on stdout (bf16 teacher, fp32-master student under bf16 autocast,
# forward KL at T 2 with alpha 0.5, T=2048, no accumulation); INIT random | pretrained; TRAIN_JSON
# adds or replaces train keys, TEACHER_JSON teacher keys (e.g. {"offload": "layers", "offload_layers": 10}),
# LOSS_JSON loss keys (e.g. {"chunk_tokens": 2048}).
distill_config() {
  python3 - "$@" <<'PY'
import json, sys
t, s, tok, data, run, init, mb, steps, log_every = sys.argv[1:10]
train = json.loads(sys.argv[10]) if len(sys.argv) > 10 and sys.argv[10] else {}
teacher = json.loads(sys.argv[11]) if len(sys.argv) > 11 and sys.argv[11] else {}
loss = json.loads(sys.argv[12]) if len(sys.argv) > 12 and sys.argv[12] else {}
print(json.dumps({
    "teacher": {"path": t, "dtype": "bf16", "tokenizer": tok, "init": init, **teacher},
    "student": {"path": s, "dtype": "fp32", "tokenizer": tok, "init": init},
    "data": {"train": [data], "seq_len": 2048, "packing": False, "shuffle": False, "long_samples": "cut",
             "valid_fraction": 0},
    "loss": {"kind": "forward_kl", "temperature": 2.0, "alpha": 0.5, **loss},
    "optim": {"lr": 1e-4, "grad_clip": 1.0},
    "schedule": {"warmup_steps": 1},
    "train": {"device": "cuda", "precision": "bf16", "micro_batch": int(mb), "grad_accum": 1, "max_steps": int(steps),
              "log_every": int(log_every), **train},
    "checkpoint": {"dir": run, "every_steps": 0, "keep_last": 1}}, indent=1))
PY
}
