# Sourced by the training benchmarks (bench_train.sh, bench_max_micro_batch.sh, bench_train_24gib.sh):
# issue #8's three workloads and their pre-tokenized rows.

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
