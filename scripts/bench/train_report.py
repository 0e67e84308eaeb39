#!/usr/bin/env python3
"""Summarises one workload of scripts/bench/bench_train.sh into a result JSON, or prints the
markdown table of several.

    python3 scripts/bench/train_report.py RESULT_DIR NAME TEACHER_DIR STUDENT_DIR > train_NAME.json
    python3 scripts/bench/train_report.py --table OUT_DIR NAME [NAME ...]

distill tokens/s: the mean of the metrics windows after the 4th step (the first steps grow the
allocator and build kernels' plans), but not the last window: with train.overlap_teacher the last
step runs no teacher forward (its teacher ran during the step before), so that window is too fast. Peer tokens/s: its timed steps after 4 warm-up steps.
MFU: model FLOPs per token / 989 TFLOP/s (H200 dense bf16 peak), with
  teacher forward = 2 * P_t + 2 * L_t * T * d_t,  student training = 3 * (2 * P_s + 2 * L_s * T * d_s),
P = parameters used in matmuls (everything but the input embedding; a tied LM head counted once as
a matmul), L layers, d hidden size, T = 2048 (causal attention: half of the T x T scores).
"""
import json
import os
import sys

PEAK_FLOPS = 989e12
SEQ = 2048


def matmul_params(path):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    config = AutoConfig.from_pretrained(path)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    total = sum(p.numel() for p in model.parameters())
    embed = model.get_input_embeddings().weight.numel()
    tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
    positions = sum(p.numel() for n, p in model.named_parameters() if "embed_positions" in n)
    # the input embedding is a lookup; a tied head is the same tensor, used once as a matmul
    used = total - positions - (0 if tied else embed)
    return used, config.num_hidden_layers, config.hidden_size


def flops_per_token(teacher, student):
    pt, lt, dt = matmul_params(teacher)
    ps, ls, ds = matmul_params(student)
    return (2 * pt + 2 * lt * SEQ * dt) + 3 * (2 * ps + 2 * ls * SEQ * ds)


def summarise(res, name, teacher, student):
    rows = [json.loads(line) for line in open(os.path.join(res, "distill_metrics.jsonl")) if line.strip()]
    last = max(r["step"] for r in rows if "tokens_per_s" in r)
    windows = [r["tokens_per_s"] for r in rows if "tokens_per_s" in r and 4 < r["step"] < last]
    distill_tps = sum(windows) / len(windows)
    peak = max(r.get("peak_mem_gib", 0.0) for r in rows)
    profile = json.load(open(os.path.join(res, "profile.json")))
    flops = flops_per_token(teacher, student)
    out = {"workload": name, "teacher": teacher, "student": student, "micro_batch": 4, "seq_len": SEQ,
           "distill": {"tokens_per_s": distill_tps, "peak_gib": peak, "mfu": distill_tps * flops / PEAK_FLOPS,
                       "train_keys_added": json.loads(os.environ.get("TRAIN") or "{}"),
                       "teacher_keys_added": json.loads(os.environ.get("TEACHER") or "{}"),
                       "windows_tokens_per_s": windows,
                       "first_step": {k: rows[0][k] for k in ("loss", "kd_loss", "ce_loss")},
                       "step_split": profile},
           "flops_per_token": flops}
    for kind in ("eager", "compile"):
        path = os.path.join(res, f"peer_{kind}.json")
        if os.path.exists(path) and os.path.getsize(path) > 0:
            peer = json.loads(open(path).read().strip().splitlines()[-1])
            peer["mfu"] = peer["tokens_per_s"] * flops / PEAK_FLOPS
            out[f"peer_{kind}"] = peer
            out[f"ratio_vs_{kind}"] = distill_tps / peer["tokens_per_s"]
            out[f"memory_ratio_vs_{kind}"] = peak / peer["peak_gib"]
    if os.path.exists(os.path.join(res, "parity_peer.json")):
        p = json.loads(open(os.path.join(res, "parity_peer.json")).read().strip().splitlines()[-1])["first_step"]
        d = json.load(open(os.path.join(res, "parity_distill.json")))
        out["first_step_parity"] = {"peer": p, "distill": {k: d[k] for k in ("loss", "kd_loss", "ce_loss")},
                                    "max_rel_diff": max(abs(d[k] - p[k]) / abs(p[k]) for k in ("loss", "kd_loss", "ce_loss"))}
    try:
        import torch
        out["gpu"], out["torch"] = torch.cuda.get_device_name(0), torch.__version__
    except Exception:  # noqa: BLE001 - informational only
        pass
    return out


def table(out_dir, names):
    print("| workload | distill tok/s | HF eager tok/s | HF compile tok/s | distill / compile | distill peak GiB | "
          "compile peak GiB | memory ratio | distill MFU |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        r = json.load(open(os.path.join(out_dir, f"train_{name}.json")))
        e, c = r.get("peer_eager", {}), r.get("peer_compile", {})
        fmt = lambda v, f="{:,.0f}": f.format(v) if isinstance(v, (int, float)) else "-"  # noqa: E731
        print(f"| {name} | {fmt(r['distill']['tokens_per_s'])} | {fmt(e.get('tokens_per_s'))} | {fmt(c.get('tokens_per_s'))} | "
              f"{fmt(r.get('ratio_vs_compile'), '{:.2f}x')} | {fmt(r['distill']['peak_gib'], '{:.1f}')} | "
              f"{fmt(c.get('peak_gib'), '{:.1f}')} | {fmt(r.get('memory_ratio_vs_compile'), '{:.2f}')} | "
              f"{fmt(r['distill']['mfu'], '{:.1%}')} |")


if __name__ == "__main__":
    if sys.argv[1] == "--table":
        table(sys.argv[2], sys.argv[3:])
    else:
        print(json.dumps(summarise(*sys.argv[1:5]), indent=2))
