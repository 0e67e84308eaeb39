#!/usr/bin/env python3
"""The Python peer of `distill train` for the throughput benchmark (issue #8): a distillation step
written the usual way with HF transformers.

    python3 scripts/bench/train_peer.py --teacher DIR --student DIR --data F.jsonl [--compile]
        [--micro-batch 4] [--seq-len 2048] [--steps 16] [--warmup 4] [--temperature 2] [--alpha 0.5]
        [--lr 1e-4] [--weights-from-pretrained]

Step: teacher (bf16, eval, no grad) logits; student (fp32 master weights) under bf16 autocast;
loss = alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, labels), token means,
over the vocabulary both models share (the first min(Vt, Vs) columns, as distill does); backward;
clip_grad_norm_(1.0); torch.optim.AdamW(fused=True), weight decay 0.01 on >= 2-dim parameters.
With --compile both models' forward and the loss go through torch.compile.

Data: pre-tokenized JSONL, one {"input_ids": [...]} of seq_len + 1 ids per line, read in file order
(distill with data.packing=false, data.shuffle=false, data.long_samples=cut reads the same rows):
row r: input_ids = ids[:T], labels = ids[1:T+1].

Models are random at real shapes (from_config) unless --weights-from-pretrained (then loaded, e.g.
the folders --save-weights wrote, so that distill can load the same weights). Prints one JSON object:
tokens/s over the timed steps, the first step's loss terms, peak memory.
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModelForCausalLM


def load(path, dtype, pretrained):
    if pretrained:
        return AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation="sdpa").cuda()
    config = AutoConfig.from_pretrained(path)
    with torch.device("cuda"):
        return AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="sdpa")


def kd_loss(t_logits, s_logits, labels, temperature, alpha):
    v = min(t_logits.shape[-1], s_logits.shape[-1])
    t = t_logits[..., :v].float().flatten(0, 1)
    s = s_logits.float().flatten(0, 1)
    y = labels.flatten()
    ce = F.cross_entropy(s, y)
    kd = F.kl_div(F.log_softmax(s[:, :v] / temperature, -1), F.log_softmax(t / temperature, -1), log_target=True,
                  reduction="batchmean") * temperature ** 2
    return alpha * kd + (1 - alpha) * ce, kd, ce


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--teacher", required=True)
    ap.add_argument("--student", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--micro-batch", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=4)
    ap.add_argument("--temperature", type=float, default=2.0)
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--weights-from-pretrained", action="store_true")
    ap.add_argument("--save-weights", help="write the random teacher/student to DIR/teacher, DIR/student and stop")
    args = ap.parse_args()
    torch.manual_seed(0)
    teacher = load(args.teacher, torch.bfloat16, args.weights_from_pretrained).eval().requires_grad_(False)
    student = load(args.student, torch.float32, args.weights_from_pretrained).train()
    if args.save_weights:
        teacher.save_pretrained(f"{args.save_weights}/teacher")
        student.save_pretrained(f"{args.save_weights}/student")
        return
    rows = [json.loads(line)["input_ids"] for line in open(args.data) if line.strip()]
    need = args.steps * args.micro_batch
    if len(rows) < need:
        raise SystemExit(f"{args.data}: {len(rows)} rows, need {need}")
    data = torch.tensor(rows[:need], dtype=torch.long).view(args.steps, args.micro_batch, -1)
    assert data.shape[-1] == args.seq_len + 1, data.shape

    decay = [p for p in student.parameters() if p.dim() >= 2]
    no_decay = [p for p in student.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.999), eps=1e-8, fused=True)
    t_fwd, s_fwd, loss_fn = teacher, student, kd_loss
    if args.compile:
        t_fwd, s_fwd, loss_fn = torch.compile(teacher), torch.compile(student), torch.compile(kd_loss)

    def step(batch):
        ids, labels = batch[:, :-1].cuda(non_blocking=True), batch[:, 1:].cuda(non_blocking=True)
        with torch.no_grad():
            t_logits = t_fwd(input_ids=ids, use_cache=False).logits
        with torch.autocast("cuda", dtype=torch.bfloat16):
            s_logits = s_fwd(input_ids=ids, use_cache=False).logits
        loss, kd, ce = loss_fn(t_logits, s_logits, labels, args.temperature, args.alpha)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach(), kd.detach(), ce.detach()

    first = None
    compile_start = time.perf_counter()
    for s in range(args.warmup):
        out = step(data[s])
        if first is None:
            first = [float(x) for x in out]
    torch.cuda.synchronize()
    warmup_s = time.perf_counter() - compile_start
    start = time.perf_counter()
    for s in range(args.warmup, args.steps):
        step(data[s])
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    tokens = (args.steps - args.warmup) * args.micro_batch * args.seq_len
    print(json.dumps({"peer": "hf-compile" if args.compile else "hf-eager", "teacher": args.teacher,
                      "student": args.student, "micro_batch": args.micro_batch, "seq_len": args.seq_len,
                      "timed_steps": args.steps - args.warmup, "tokens_per_s": tokens / seconds if tokens else None,
                      "warmup_seconds": warmup_s, "first_step": {"loss": first[0], "kd_loss": first[1], "ce_loss": first[2]},
                      "peak_gib": torch.cuda.max_memory_allocated() / 2**30, "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
