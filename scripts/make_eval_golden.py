#!/usr/bin/env python3
"""Reference data for `distill eval` and `distill generate`, from HF transformers (fp32, CPU, eager).

    python3 scripts/make_eval_golden.py [--data tests/data]

Writes under tests/data/golden/:
  eval_sequences.jsonl  pre-tokenized sequences {"input_ids": [...]} of lengths 1..200 (ids < 1000)
  eval_mc.jsonl         multiple-choice items {"context_ids", "choices_ids", "answer"}
  eval_reference.json   for student tests/data/models/llama and teacher tests/data/models/qwen2:
     sliding-window evaluation with max_length 64, stride 32: windows start at 0, 32, 64, ... and
     each window scores only the tokens after the previous window's end, so every token but a
     sequence's first is predicted exactly once, from up to 63 tokens of context;
     student/teacher: nll_sum, tokens, mean_ce = nll_sum / tokens, ppl = exp(mean_ce);
     top1_agreement  share of predicted tokens where argmax(student) == argmax(teacher);
     mean_kl         mean over predicted tokens of KL(softmax(teacher) || softmax(student)), T = 1;
     top5_overlap    mean of |top5(student) & top5(teacher)| / 5;
     ppl_ratio       student ppl / teacher ppl;
     mc: per item the student's log-likelihood of each choice's tokens after the context, the
         argmax choice, and the accuracy.
  generate.json         greedy decoding (model.generate, do_sample False, 24 new tokens, stopping at
                        eos) of two prompts per fixture family, batch 1. The original Qwen fixture
                        has no transformers class and is left out.
"""
import argparse
import json
import math

import torch
from transformers import AutoModelForCausalLM

MAX_LEN, STRIDE, NEW_TOKENS = 64, 32, 24
FAMILIES = ["llama", "llama3", "llama_linear", "mistral", "qwen2", "qwen2_sliding", "qwen3", "opt", "opt_postnorm",
            "gpt2"]


def load(data, name):
    return AutoModelForCausalLM.from_pretrained(f"{data}/models/{name}", dtype=torch.float32,
                                                attn_implementation="eager").eval()


def windows(n):
    """(begin, end, first_scored) per window: positions first_scored..end-1 are predicted."""
    out, prev_end, begin = [], 0, 0
    while True:
        end = min(begin + MAX_LEN, n)
        first = max(prev_end, begin + 1)
        if first < end:
            out.append((begin, end, first))
        prev_end = end
        if end == n:
            return out
        begin += STRIDE


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="tests/data")
    args = ap.parse_args()
    gen = torch.Generator().manual_seed(77)
    seqs = [torch.randint(3, 1000, (n,), generator=gen).tolist() for n in (1, 2, 17, 50, 64, 65, 200)]
    with open(f"{args.data}/golden/eval_sequences.jsonl", "w") as f:
        for s in seqs:
            f.write(json.dumps({"input_ids": s}) + "\n")
    student, teacher = load(args.data, "llama"), load(args.data, "qwen2")
    acc = {k: 0.0 for k in ("s_nll", "t_nll", "agree", "kl", "top5", "tokens")}
    with torch.no_grad():
        for s in seqs:
            ids = torch.tensor(s)
            for begin, end, first in windows(len(s)):
                x = ids[begin:end].unsqueeze(0)
                sl = torch.log_softmax(student(input_ids=x).logits.float()[0].double(), -1)
                tl = torch.log_softmax(teacher(input_ids=x).logits.float()[0].double(), -1)
                # logits at window position p predict token begin + p + 1
                rows = torch.arange(first - begin - 1, end - begin - 1)
                targets = ids[first:end]
                acc["s_nll"] += -sl[rows, targets].sum().item()
                acc["t_nll"] += -tl[rows, targets].sum().item()
                acc["agree"] += (sl[rows].argmax(-1) == tl[rows].argmax(-1)).sum().item()
                acc["kl"] += (tl[rows].exp() * (tl[rows] - sl[rows])).sum(-1).sum().item()
                s5, t5 = sl[rows].topk(5, -1).indices, tl[rows].topk(5, -1).indices
                acc["top5"] += sum(len(set(a.tolist()) & set(b.tolist())) / 5 for a, b in zip(s5, t5))
                acc["tokens"] += len(rows)
        n = acc["tokens"]
        ref = {"max_length": MAX_LEN, "stride": STRIDE, "student": "models/llama", "teacher": "models/qwen2",
               "tokens": int(n),
               "student_nll_sum": acc["s_nll"], "student_mean_ce": acc["s_nll"] / n,
               "student_ppl": math.exp(acc["s_nll"] / n),
               "teacher_nll_sum": acc["t_nll"], "teacher_mean_ce": acc["t_nll"] / n,
               "teacher_ppl": math.exp(acc["t_nll"] / n),
               "top1_agreement": acc["agree"] / n, "mean_kl": acc["kl"] / n, "top5_overlap": acc["top5"] / n,
               "ppl_ratio": math.exp(acc["s_nll"] / n) / math.exp(acc["t_nll"] / n)}

        items = []
        for i in range(12):
            ctx = torch.randint(3, 1000, (5 + i,), generator=gen).tolist()
            choices = [torch.randint(3, 1000, (1 + (i + j) % 4,), generator=gen).tolist() for j in range(4)]
            items.append({"context_ids": ctx, "choices_ids": choices, "answer": i % 4})
        with open(f"{args.data}/golden/eval_mc.jsonl", "w") as f:
            for it in items:
                f.write(json.dumps(it) + "\n")
        mc = []
        for it in items:
            lls = []
            for ch in it["choices_ids"]:
                x = torch.tensor(it["context_ids"] + ch).unsqueeze(0)
                lp = torch.log_softmax(student(input_ids=x).logits.float()[0].double(), -1)
                c = len(it["context_ids"])
                lls.append(sum(lp[c - 1 + k, tok].item() for k, tok in enumerate(ch)))
            mc.append({"loglik": lls, "pred": max(range(len(lls)), key=lambda k: lls[k])})
        ref["mc"] = mc
        ref["mc_accuracy"] = sum(m["pred"] == it["answer"] for m, it in zip(mc, items)) / len(items)
    with open(f"{args.data}/golden/eval_reference.json", "w") as f:
        json.dump(ref, f, indent=1)
    print(json.dumps({k: v for k, v in ref.items() if k != "mc"}))

    out = {"max_new_tokens": NEW_TOKENS, "families": {}}
    for name in FAMILIES:
        model = load(args.data, name)
        prompts = [torch.randint(3, 1000, (n,), generator=gen).tolist() for n in (3, 11)]
        outs = []
        for p in prompts:
            with torch.no_grad():
                y = model.generate(torch.tensor([p]), attention_mask=torch.ones(1, len(p), dtype=torch.long),
                                   do_sample=False, num_beams=1, max_new_tokens=NEW_TOKENS,
                                   pad_token_id=model.config.eos_token_id if model.config.pad_token_id is None
                                   else model.config.pad_token_id)
            outs.append(y[0, len(p):].tolist())
        out["families"][name] = {"eos_token_id": model.config.eos_token_id, "prompts": prompts, "outputs": outs}
        print(name, [len(o) for o in outs])
    with open(f"{args.data}/golden/generate.json", "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
