#!/usr/bin/env python3
"""HF transformers decode throughput (the peer of `distill bench --gen-len`): greedy model.generate
with the KV cache, eager (no torch.compile), SDPA attention, bf16, random weights from config.json.

    python3 scripts/bench/decode_peer.py --model DIR [--model DIR ...] [--batch 1] [--prompt-len 128] [--gen-len 128]

Decode time = time(generate G new tokens) - time(generate 1 new token): the G - 1 single-token steps
after the prefill. min_new_tokens = G keeps an early EOS from shortening the run. Best of 2 each; the
first of the two is also reported (most key lengths are new to it, as in a single generate call).
Prints one JSON object per model.
"""
import argparse
import json
import time

import torch
from transformers import AutoConfig, AutoModelForCausalLM


def timed_generate(model, ids, new_tokens):
    torch.cuda.synchronize()
    t = time.perf_counter()
    model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                   min_new_tokens=new_tokens, do_sample=False, num_beams=1, pad_token_id=0)
    torch.cuda.synchronize()
    return time.perf_counter() - t


def bench(path, batch, prompt_len, gen_len):
    config = AutoConfig.from_pretrained(path)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16, attn_implementation="sdpa")
    model.eval().requires_grad_(False)
    model.generation_config.eos_token_id = None
    ids = torch.randint(config.vocab_size, (batch, prompt_len), device="cuda")
    with torch.no_grad():
        timed_generate(model, ids, 8)  # warm-up
        runs = [timed_generate(model, ids, gen_len) for _ in range(2)]
        one = min(timed_generate(model, ids, 1) for _ in range(2))
    seconds = min(runs) - one
    first = runs[0] - one  # most key lengths seen for the first time, as in one generate call
    result = {"model": path, "peer": "hf-eager-generate", "batch": batch, "prompt_len": prompt_len, "gen_len": gen_len,
              "decode_tokens_per_s": batch * (gen_len - 1) / seconds,
              "decode_ms_per_token": 1000 * seconds / (gen_len - 1),
              "decode_first_run_ms_per_token": 1000 * first / (gen_len - 1),
              "peak_gib": torch.cuda.max_memory_allocated() / 2**30}
    del model
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--prompt-len", type=int, default=128)
    ap.add_argument("--gen-len", type=int, default=128)
    args = ap.parse_args()
    for path in args.model:
        print(json.dumps(bench(path, args.batch, args.prompt_len, args.gen_len)), flush=True)


if __name__ == "__main__":
    main()
