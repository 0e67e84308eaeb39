#!/usr/bin/env python3
"""Builds pruned and random students of every family fixture with `distill init-student` and checks
that HF transformers loads each one (no missing, unexpected or mismatched weights) and computes the
logits `distill forward` computes for it (scripts/check_hf_load.py, within 1e-4 of their scale).

    python3 scripts/check_init_student_hf.py [OUT_DIR]      # DISTILL_BIN overrides build/distill

Run it on the machine that has transformers (the GPU machine). Exit 0 when every student passes.
"""
import concurrent.futures
import json
import os
import subprocess
import sys

import torch
from safetensors.torch import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("DISTILL_BIN", os.path.join(ROOT, "build", "distill"))
# The original Qwen has no class in transformers (it needs trust_remote_code), so it is not here.
FIXTURES = ["llama", "llama3", "llama_linear", "mistral", "qwen2", "qwen2_sliding", "qwen3", "opt", "opt_postnorm", "gpt2"]


def width_flags(config):
    """Heads, hidden and MLP width pruned together; OPT and GPT-2 tie head_dim to hidden / heads."""
    heads = config.get("num_attention_heads", config.get("n_head"))
    kv = config.get("num_key_value_heads", heads)
    if config.get("model_type") in ("gpt2", "opt"):
        head_dim = config.get("hidden_size", config.get("n_embd")) // heads
        return ["--heads", "3", "--hidden", str(3 * head_dim), "--intermediate", "64"]
    if kv < heads:
        return ["--heads", "2", "--kv-heads", "1", "--hidden", "40", "--intermediate", "64"]
    return ["--heads", "2", "--hidden", "40", "--intermediate", "64"]


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "runs", "init_student_hf"))
    subprocess.run(["rm", "-rf", out], check=True)
    os.makedirs(out)
    torch.manual_seed(0)
    calibration = os.path.join(out, "calibration.jsonl")
    with open(calibration, "w") as f:
        for _ in range(16):
            f.write(json.dumps({"input_ids": torch.randint(0, 1000, (32,)).tolist()}) + "\n")
    ids_path = os.path.join(out, "ids.safetensors")
    save_file({"input_ids": torch.randint(0, 1000, (2, 24))}, ids_path)

    def check_case(name, case, flags):
        teacher = os.path.join(ROOT, "tests", "data", "models", name)
        student = os.path.join(out, f"{name}_{case}")
        entry = {"fixture": name, "case": case}
        try:
            run([BIN, "init-student", "--teacher", teacher, "--out", student, "--dtype", "fp32"] + flags)
            logits = os.path.join(student + "_logits.safetensors")
            run([BIN, "forward", "--model", student, "--input", ids_path, "--output", logits])
            golden = student + "_golden.safetensors"
            save_file({"input_ids": load_file(ids_path)["input_ids"], "logits": load_file(logits)["logits"]}, golden)
            check = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "check_hf_load.py"), student, golden],
                                   capture_output=True, text=True)
            entry.update(json.loads(check.stdout.strip().splitlines()[-1]) if check.stdout.strip() else
                         {"ok": False, "error": check.stderr.strip()[-500:]})
        except Exception as e:  # report every case, then fail
            entry.update({"ok": False, "error": str(e)[-500:]})
        print(json.dumps(entry), flush=True)
        return entry

    jobs = []
    for name in FIXTURES:
        config = json.load(open(os.path.join(ROOT, "tests", "data", "models", name, "config.json")))
        cases = {
            "keep_all": [],
            "layer_1": ["--keep-layers", "1"],
            "width": ["--layers", "1", "--calibration", calibration] + width_flags(config),
            "random": ["--layers", "1", "--random", "--seed", "5"],
        }
        jobs += [(name, case, flags) for case, flags in cases.items()]
    # Each case is three processes (init-student, forward, a Python load): run several at once.
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(12, os.cpu_count() or 1)) as pool:
        results = list(pool.map(lambda job: check_case(*job), jobs))
    failed = [r for r in results if not r.get("ok")]
    print(f"{len(results) - len(failed)} of {len(results)} students load in transformers with distill's logits")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
