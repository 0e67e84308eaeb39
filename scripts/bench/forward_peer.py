#!/usr/bin/env python3
"""HF transformers forward (prefill) throughput: the peer distill's `bench` is compared against.

Builds each model from its config.json with random weights (AutoModelForCausalLM.from_config,
bf16, SDPA attention, initialised directly on the GPU) and times `model(input_ids).logits` under
torch.no_grad at the given batch and sequence length: warm-up forwards first, then timed ones
between two torch.cuda.synchronize() calls. Prints one JSON object per model.
"""
import argparse
import json
import time

import torch
from transformers import AutoConfig, AutoModelForCausalLM


def bench(path, batch, seq_len, warmup, iters, compile_model):
    config = AutoConfig.from_pretrained(path)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16, attn_implementation="sdpa")
    model.eval().requires_grad_(False)
    run = torch.compile(model) if compile_model else model
    ids = torch.randint(config.vocab_size, (batch, seq_len), device="cuda")
    with torch.no_grad():
        for _ in range(warmup):
            run(input_ids=ids, use_cache=False).logits
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for _ in range(iters):
            run(input_ids=ids, use_cache=False).logits
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    result = {"model": path, "peer": "hf-compile" if compile_model else "hf-eager",
              "parameters": sum(p.numel() for p in model.parameters()), "batch": batch, "prompt_len": seq_len,
              "iters": iters, "prefill_tokens_per_s": batch * seq_len * iters / seconds,
              "prefill_ms_per_batch": 1000 * seconds / iters,
              "peak_gib": torch.cuda.max_memory_allocated() / 2**30}
    del run, model
    torch.cuda.empty_cache()
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--prompt-len", type=int, default=2048)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args()
    for path in args.model:
        print(json.dumps(bench(path, args.batch, args.prompt_len, args.warmup, args.iters, args.compile)), flush=True)


if __name__ == "__main__":
    main()
