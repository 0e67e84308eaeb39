#!/usr/bin/env python3
"""Experiment (issue #8): how fast is each of PyTorch's SDPA backends on the attention shapes of the
qwen7b_to_0.5b workload (micro-batch 4, T = 2048, causal, grouped KV heads, bf16)?

distill calls at::scaled_dot_product_attention with enable_gqa and lets ATen pick the backend (cuDNN
on the H200 in the traces). This times forward, and forward + backward for the student, under each
backend forced with torch.nn.attention.sdpa_kernel, with the KV heads grouped (enable_gqa) and, where
a backend refuses that, repeated to the query heads first (what a caller would have to do).

    python3 scripts/experiments/sdpa_backends.py [reps] [layouts]
"""
import sys

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

REPS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
B, T = 4, 2048
SHAPES = {  # name: (query heads, KV heads, head dim, with backward)
    "teacher Qwen2.5-7B": (28, 4, 128, False),
    "student Qwen2.5-0.5B": (14, 2, 64, True),
}
BACKENDS = {
    "cudnn": SDPBackend.CUDNN_ATTENTION,
    "flash": SDPBackend.FLASH_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
}


def timed(fn):
    for _ in range(3):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(REPS):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / REPS


def main():
    dev = torch.device("cuda")
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, {torch.cuda.get_device_name()}")
    for name, (h, kv, d, backward) in SHAPES.items():
        q = torch.randn(B, h, T, d, device=dev, dtype=torch.bfloat16, requires_grad=backward)
        k = torch.randn(B, kv, T, d, device=dev, dtype=torch.bfloat16, requires_grad=backward)
        v = torch.randn(B, kv, T, d, device=dev, dtype=torch.bfloat16, requires_grad=backward)
        go = torch.randn(B, h, T, d, device=dev, dtype=torch.bfloat16)
        flop = 4 * B * h * T * T * d / 2  # causal forward
        for bname, backend in BACKENDS.items():
            for gqa in (True, False):
                def fwd():
                    if gqa:
                        return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
                    kk = k.repeat_interleave(h // kv, 1)
                    vv = v.repeat_interleave(h // kv, 1)
                    return torch.nn.functional.scaled_dot_product_attention(q, kk, vv, is_causal=True)

                def fwd_bwd():
                    out = fwd()
                    torch.autograd.grad(out, (q, k, v), go)

                label = f"{name:22s} {bname:9s} {'gqa' if gqa else 'repeat':6s}"
                try:
                    with sdpa_kernel([backend]):
                        with torch.no_grad():
                            ms_f = timed(fwd)
                        ms_fb = timed(fwd_bwd) if backward else float("nan")
                except RuntimeError as e:
                    print(f"{label} refused: {str(e).splitlines()[0][:100]}")
                    continue
                line = f"{label} forward {ms_f * 1e3:7.0f} us ({flop / ms_f / 1e9:5.0f} TFLOP/s)"
                if backward:
                    line += f", forward+backward {ms_fb * 1e3:7.0f} us ({3.5 * flop / ms_fb / 1e9:5.0f} TFLOP/s at 3.5x)"
                print(line, flush=True)
        # What ATen picks by itself.
        with torch.no_grad():
            ms_f = timed(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True))
        print(f"{name:22s} default   gqa    forward {ms_f * 1e3:7.0f} us")


def layouts():
    """The default backend on the layouts q, k and v can come in: (B, T, H, D) memory order (views of
    the q/k/v product, as distill's and transformers' attention take them; q and k written so by
    RoPE, v a strided view) against contiguous (B, H, T, D); each followed by the output's reshape
    to (B, T, H * D) for the o product (a copy where the output is not in that order)."""
    dev = torch.device("cuda")
    for name, (h, kv, d, backward) in SHAPES.items():
        width = (h + 2 * kv) * d
        qkv = torch.randn(B, T, width, device=dev, dtype=torch.bfloat16)
        go = torch.randn(B, T, h * d, device=dev, dtype=torch.bfloat16)

        def views(bhtd):
            q, k, v = qkv.split([h * d, kv * d, kv * d], -1)
            q = q.reshape(B, T, h, d).transpose(1, 2)
            k = k.reshape(B, T, kv, d).transpose(1, 2)
            v = v.reshape(B, T, kv, d).transpose(1, 2)
            if bhtd:
                return q.contiguous(), k.contiguous(), v.contiguous()
            # q and k as RoPE writes them: their own buffers in (B, T, H, D) order; v the product's view.
            q_btd = torch.empty(B, T, h, d, device=dev, dtype=torch.bfloat16).transpose(1, 2).copy_(q)
            k_btd = torch.empty(B, T, kv, d, device=dev, dtype=torch.bfloat16).transpose(1, 2).copy_(k)
            return q_btd, k_btd, v.detach()

        for bhtd in (False, True):
            q, k, v = views(bhtd)
            q.requires_grad_(backward)
            k.requires_grad_(backward)
            v.requires_grad_(backward)

            def fwd():
                o = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
                return o.transpose(1, 2).reshape(B, T, h * d)

            def fwd_bwd():
                torch.autograd.grad(fwd(), (q, k, v), go)

            with torch.no_grad():
                ms_f = timed(fwd)
            line = (f"{name:22s} layout {'(B, H, T, D) contiguous' if bhtd else '(B, T, H, D) order   '}: forward "
                    f"{ms_f * 1e3:6.0f} us")
            if backward:
                line += f", forward+backward {timed(fwd_bwd) * 1e3:6.0f} us"
            print(line, flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[2] == "layouts":
        layouts()
        sys.exit(0)
    main()
