#!/usr/bin/env python3
"""Reference loss curve for `distill train`, computed with plain PyTorch + HF transformers.

    python3 scripts/golden_train_reference.py --out tests/data/golden/train_curve.safetensors

Teacher: tests/data/models/qwen2, student: tests/data/models/llama (tiny fixtures of
scripts/make_fixtures.py, vocabulary 1000 each). Everything in fp32 on the CPU, eager attention.
Per step (0-based s, 10 steps, one micro-batch of 4 x 16 tokens each, batches fixed and stored):
  lr(s)   = peak * s / W for s < W; then floor + (peak - floor) * 0.5 * (1 + cos(pi * p)),
            p = min(1, (s - W) / max(1, N - W)), floor = peak * min_lr_ratio  (peak 3e-3, W 2, N 10, ratio 0.1)
  logits  = model(input_ids).logits over every position; labels are the next tokens
  kd      = T^2 * mean over tokens of KL(softmax(t/T) || softmax(s/T))   (T = 2)
  ce      = mean cross-entropy of the student
  loss    = alpha * kd + (1 - alpha) * ce                                 (alpha = 0.7)
  clip_grad_norm_(1.0); torch.optim.AdamW(betas (0.9, 0.999), eps 1e-8, weight_decay 0.01 on
  parameters with >= 2 dims, 0 on norms and biases (the 1-dim ones); foreach=False)
The loss recorded for step s is computed under the weights before that step's update.
Writes the batches and the per-step loss, kd_loss, ce_loss, lr and grad_norm.
"""
import argparse
import math

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

STEPS, B, T_LEN, PEAK, WARMUP, RATIO, TEMP, ALPHA = 10, 4, 16, 3e-3, 2, 0.1, 2.0, 0.7


def lr_at(s):
    if s < WARMUP:
        return PEAK * s / WARMUP
    p = min(1.0, (s - WARMUP) / max(1, STEPS - WARMUP))
    floor = PEAK * RATIO
    return floor + (PEAK - floor) * 0.5 * (1 + math.cos(math.pi * p))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/data/golden/train_curve.safetensors")
    ap.add_argument("--data", default="tests/data")
    args = ap.parse_args()
    torch.manual_seed(0)
    teacher = AutoModelForCausalLM.from_pretrained(f"{args.data}/models/qwen2", dtype=torch.float32,
                                                   attn_implementation="eager").eval()
    student = AutoModelForCausalLM.from_pretrained(f"{args.data}/models/llama", dtype=torch.float32,
                                                   attn_implementation="eager").train()
    gen = torch.Generator().manual_seed(2024)
    tokens = torch.randint(0, 1000, (STEPS, B, T_LEN + 1), generator=gen)
    decay = [p for p in student.parameters() if p.dim() >= 2]
    no_decay = [p for p in student.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=PEAK, betas=(0.9, 0.999), eps=1e-8, foreach=False)
    rows = {k: [] for k in ("loss", "kd_loss", "ce_loss", "lr", "grad_norm")}
    for s in range(STEPS):
        ids, labels = tokens[s, :, :-1], tokens[s, :, 1:]
        with torch.no_grad():
            t_logits = teacher(input_ids=ids).logits.float()
        s_logits = student(input_ids=ids).logits.float()
        v = t_logits.shape[-1]
        t_logp = torch.log_softmax(t_logits.reshape(-1, v) / TEMP, -1)
        s_logp = torch.log_softmax(s_logits.reshape(-1, v) / TEMP, -1)
        kl = (t_logp.exp() * (t_logp - s_logp)).sum(-1).mean()
        kd = TEMP * TEMP * kl
        ce = torch.nn.functional.cross_entropy(s_logits.reshape(-1, v), labels.reshape(-1))
        loss = ALPHA * kd + (1 - ALPHA) * ce
        opt.zero_grad()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        for group in opt.param_groups:
            group["lr"] = lr_at(s)
        opt.step()
        for key, value in (("loss", loss), ("kd_loss", kd), ("ce_loss", ce), ("grad_norm", norm)):
            rows[key].append(float(value))
        rows["lr"].append(lr_at(s))
        print(f"step {s + 1}: loss {float(loss):.6f} kd {float(kd):.6f} ce {float(ce):.6f} lr {lr_at(s):.6g} "
              f"norm {float(norm):.6f}")
    out = {"tokens": tokens.contiguous()}
    out.update({k: torch.tensor(v, dtype=torch.float64) for k, v in rows.items()})
    save_file(out, args.out)


if __name__ == "__main__":
    main()
