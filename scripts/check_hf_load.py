#!/usr/bin/env python3
"""Loads a model folder written by distill with HF transformers and checks its logits.

    python3 scripts/check_hf_load.py MODEL_DIR GOLDEN.safetensors

MODEL_DIR is what distill's save_model wrote; GOLDEN holds input_ids and the logits HF computed for
the original fixture (scripts/make_fixtures.py). Exit 0 when transformers loads the folder with no
missing or unexpected weights and its logits match within 1e-4 of the logits' scale.
"""
import json
import sys

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM


def main():
    model_dir, golden_path = sys.argv[1], sys.argv[2]
    golden = load_file(golden_path)
    model, info = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager",
                                                       output_loading_info=True)
    problems = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    with torch.no_grad():
        logits = model(input_ids=golden["input_ids"]).logits.float()
    expected = golden["logits"]
    err = ((logits - expected).abs().max() / expected.abs().max()).item()
    ok = not problems and err < 1e-4
    print(json.dumps({"model": model_dir, "max_rel_error": err, "problems": {k: list(v) for k, v in problems.items()},
                      "ok": ok}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
