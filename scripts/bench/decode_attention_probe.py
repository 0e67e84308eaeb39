#!/usr/bin/env python3
"""Where does a batch-1 decode step's attention time go? Times torch SDPA the way a KV-cached decode
calls it (one query token, a key length that grows by one every step, GQA), per backend setting,
on first sight of each key length and again once every length has been seen.

    python3 scripts/bench/decode_attention_probe.py [--layers 28] [--heads 28] [--kv-heads 4] [--head-dim 128]

Prints one JSON object per variant: mean host+device milliseconds per decode step (all layers).
With --kernels: the CUDA kernels one single-query call launches (cuDNN off), for this shape.
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F


def run(args, cudnn, layout, t0, steps):
    torch.backends.cuda.enable_cudnn_sdp(cudnn)
    dev, dt = "cuda", torch.bfloat16
    cap = t0 + steps
    q = torch.randn(1, args.heads, 1, args.head_dim, device=dev, dtype=dt)
    kbuf = torch.randn(1, args.kv_heads, cap, args.head_dim, device=dev, dtype=dt)
    vbuf = torch.randn_like(kbuf)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for s in range(steps):
        tk = t0 + s
        if layout == "narrowed":   # views into a preallocated (B, KV, capacity, D) buffer
            k, v = kbuf[:, :, :tk], vbuf[:, :, :tk]
        else:                      # contiguous tensors, as after torch.cat
            k, v = kbuf[:, :, :tk].contiguous(), vbuf[:, :, :tk].contiguous()
        for _ in range(args.layers):
            F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    torch.cuda.synchronize()
    return 1000 * (time.perf_counter() - start) / steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=28)
    ap.add_argument("--heads", type=int, default=28)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--kernels", action="store_true")
    args = ap.parse_args()
    if args.kernels:
        torch.backends.cuda.enable_cudnn_sdp(False)
        q = torch.randn(1, args.heads, 1, args.head_dim, device="cuda", dtype=torch.bfloat16)
        kbuf = torch.randn(1, args.kv_heads, 512, args.head_dim, device="cuda", dtype=torch.bfloat16)
        k, v = kbuf[:, :, :200], kbuf[:, :, :200]
        gqa = args.kv_heads != args.heads
        F.scaled_dot_product_attention(q, k, v, enable_gqa=gqa)
        torch.cuda.synchronize()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            F.scaled_dot_product_attention(q, k, v, enable_gqa=gqa)
            torch.cuda.synchronize()
        names = [e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        print(json.dumps({"heads": args.heads, "kv_heads": args.kv_heads, "kernels": names}))
        return
    t0 = 129
    for i, cudnn in enumerate([True, False]):
        for layout in ["narrowed", "contiguous"]:
            base = t0 + 1000 * (2 * i + (layout == "contiguous"))  # fresh key lengths per variant
            first = run(args, cudnn, layout, base, 64)
            again = run(args, cudnn, layout, base, 64)
            print(json.dumps({"cudnn_sdp": cudnn, "kv_layout": layout, "first_sight_ms_per_step": round(first, 3),
                              "seen_before_ms_per_step": round(again, 3), "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
