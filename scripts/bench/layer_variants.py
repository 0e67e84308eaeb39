#!/usr/bin/env python3
"""Where does one LLaMA-2-7B decoder layer spend its time? HF's layer against PyTorch replicas of
distill's layer arithmetic (the same ATen ops distill's C++ calls), bf16, B=4, T=2048, on the GPU.

    python3 scripts/bench/layer_variants.py [--out DIR]

Variants: hf (transformers' LlamaDecoderLayer, SDPA), fused (distill: one qkv matmul and one
gate|up matmul, narrowed views), split (distill's ops with separate q/k/v and gate/up matmuls).
Prints ms per layer forward and the top CUDA kernels of each from torch.profiler.
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRotaryEmbedding

B, T, C, H, I = 4, 2048, 4096, 32, 11008
D = C // H


def rms(x, w, eps=1e-5):
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return w * h.to(x.dtype)


def rope(x, cos, sin):
    half = x.shape[-1] // 2
    rot = torch.cat([-x[..., half:], x[..., :half]], -1)
    return x * cos + rot * sin


def make_distill_layer(hf, fused):
    a, m = hf.self_attn, hf.mlp
    wqkv = torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]) if fused else None
    wgu = torch.cat([m.gate_proj.weight, m.up_proj.weight]) if fused else None

    def layer(x, cos, sin):
        h = rms(x, hf.input_layernorm.weight)
        if fused:
            qkv = F.linear(h, wqkv)
            q, k, v = (qkv.narrow(-1, i * C, C).view(B, T, H, D).transpose(1, 2) for i in range(3))
        else:
            q, k, v = (F.linear(h, w).view(B, T, H, D).transpose(1, 2)
                       for w in (a.q_proj.weight, a.k_proj.weight, a.v_proj.weight))
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + F.linear(o.transpose(1, 2).reshape(B, T, C), a.o_proj.weight)
        h = rms(x, hf.post_attention_layernorm.weight)
        if fused:
            gu = F.linear(h, wgu)
            y = F.silu(gu.narrow(-1, 0, I)) * gu.narrow(-1, I, I)
        else:
            y = F.silu(F.linear(h, m.gate_proj.weight)) * F.linear(h, m.up_proj.weight)
        return x + F.linear(y, m.down_proj.weight)
    return layer


def timed(fn, iters=20):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / iters * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    args = ap.parse_args()
    cfg = LlamaConfig(hidden_size=C, intermediate_size=I, num_attention_heads=H, num_key_value_heads=H,
                      max_position_embeddings=4096)
    cfg._attn_implementation = "sdpa"
    with torch.device("cuda"):
        hf = LlamaDecoderLayer(cfg, 0).to(torch.bfloat16).eval()
        rot = LlamaRotaryEmbedding(cfg)
    x = torch.randn(B, T, C, device="cuda", dtype=torch.bfloat16)
    pos = torch.arange(T, device="cuda").unsqueeze(0)
    cos, sin = rot(x, pos)
    cos4, sin4 = cos.unsqueeze(1), sin.unsqueeze(1)
    variants = {"hf": lambda: hf(x, attention_mask=None, position_ids=pos, position_embeddings=(cos, sin))}
    for name, fused in (("fused", True), ("split", False)):
        f = make_distill_layer(hf, fused)
        variants[name] = lambda f=f: f(x, cos4, sin4)
    results = {}
    with torch.no_grad():
        ref = variants["hf"]()
        ref = ref[0] if isinstance(ref, tuple) else ref
        for name, fn in variants.items():
            out = fn()
            out = out[0] if isinstance(out, tuple) else out
            err = ((out.float() - ref.float()).abs().max() / ref.float().abs().max()).item()
            results[name] = {"ms": timed(fn), "max_rel_err_vs_hf": err}
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
                fn()
                torch.cuda.synchronize()
            print(f"== {name}: {results[name]['ms']:.3f} ms per layer (rel err vs hf {err:.2e})")
            print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=12))
    print(json.dumps(results, indent=2))
    if args.out:
        json.dump(results, open(f"{args.out}/layer_variants.json", "w"), indent=2)


if __name__ == "__main__":
    main()
