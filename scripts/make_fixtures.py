#!/usr/bin/env python3
"""Tiny random models of every supported family, saved with HF transformers, plus HF's logits.

Run on the GPU machine (HF transformers 5.x, PyTorch, safetensors):
    python3 scripts/make_fixtures.py --out tests/data
Writes tests/data/models/<name>/ (config.json + model.safetensors) and
tests/data/golden/<name>.safetensors with:
    input_ids        int64 [2, 16]
    attention_mask   int64 [2, 16]   row 1 is left-padded (first 5 positions are padding)
    logits           f32 [2, 16, V]  HF eager attention, fp32, CPU, no mask
    logits_padded    f32 [2, 16, V]  same with attention_mask (compare real positions only)
    logits_bf16      f32 [2, 16, V]  HF sdpa attention, bf16 weights and compute, CUDA (when available)

Every norm weight and bias is moved away from its init (ones/zeros) so a missing or misplaced term
changes the logits. Weights are drawn with std 0.08 so layers contribute visibly.

The original Qwen (QWenLMHeadModel) has no class in transformers. Its fixture is a Qwen2 model with
as many KV heads as heads, untied embeddings and no sliding window, whose weights are written under
QWen's names: c_attn = [q; k; v] (weights and biases concatenated along the output dim), c_proj =
o_proj, w2 = gate_proj, w1 = up_proj (QWen computes w1(x) * silu(w2(x))), mlp.c_proj = down_proj,
ln_1/ln_2/ln_f = the RMSNorms. Both compute RMSNorm(x.float()) * w, rotate-half RoPE with
inv_freq = 1 / base^(2i/d), softmax(q k^T / sqrt(d)) causal attention and the same residual layout,
so the Qwen2 logits are the QWen model's logits (up to seq_length; QWen's dynamic NTK and logn
attention only act beyond it).
"""
import argparse
import json
import os
import shutil

import torch
from safetensors.torch import save_file

import transformers
from transformers import (GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, MistralConfig,
                          MistralForCausalLM, OPTConfig, OPTForCausalLM, Qwen2Config, Qwen2ForCausalLM,
                          Qwen3Config, Qwen3ForCausalLM)

VOCAB = 1000
B, T = 2, 16
PAD = 5  # left padding of row 1 in the padded batch

common = dict(vocab_size=VOCAB, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)


def rope(config_cls, theta, scaling=None, **kw):
    """transformers 5 takes rope_parameters; 4.x took rope_theta + rope_scaling."""
    params = {"rope_type": "default", "rope_theta": theta}
    if scaling:
        params.update(scaling)
    try:
        return config_cls(rope_parameters=params, **kw)
    except TypeError:
        legacy = dict(scaling or {})
        return config_cls(rope_theta=theta, rope_scaling=legacy or None, **kw)


def fixtures():
    yield "llama", LlamaForCausalLM, rope(LlamaConfig, 10000.0, None, rms_norm_eps=1e-5,
                                          tie_word_embeddings=False, **common)
    yield "llama3", LlamaForCausalLM, rope(
        LlamaConfig, 500000.0,
        {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
         "original_max_position_embeddings": 32},
        rms_norm_eps=1e-5, tie_word_embeddings=True, **common)
    yield "llama_linear", LlamaForCausalLM, rope(LlamaConfig, 10000.0, {"rope_type": "linear", "factor": 2.0},
                                                 rms_norm_eps=1e-6, tie_word_embeddings=False, **common)
    yield "mistral", MistralForCausalLM, rope(MistralConfig, 10000.0, None, sliding_window=8, rms_norm_eps=1e-5,
                                              tie_word_embeddings=False, **common)
    yield "qwen2", Qwen2ForCausalLM, rope(Qwen2Config, 1000000.0, None, rms_norm_eps=1e-6,
                                          tie_word_embeddings=True, **common)
    yield "qwen2_sliding", Qwen2ForCausalLM, rope(Qwen2Config, 10000.0, None, use_sliding_window=True,
                                                  sliding_window=8, max_window_layers=1, rms_norm_eps=1e-6,
                                                  tie_word_embeddings=False, **common)
    yield "qwen3", Qwen3ForCausalLM, rope(Qwen3Config, 1000000.0, None, head_dim=16, rms_norm_eps=1e-6,
                                          tie_word_embeddings=True, **common)
    yield "opt", OPTForCausalLM, OPTConfig(vocab_size=VOCAB, hidden_size=48, ffn_dim=96, num_hidden_layers=2,
                                           num_attention_heads=4, max_position_embeddings=128,
                                           word_embed_proj_dim=48, do_layer_norm_before=True,
                                           pad_token_id=1, bos_token_id=2, eos_token_id=2)
    yield "opt_postnorm", OPTForCausalLM, OPTConfig(vocab_size=VOCAB, hidden_size=48, ffn_dim=96,
                                                    num_hidden_layers=2, num_attention_heads=4,
                                                    max_position_embeddings=128, word_embed_proj_dim=32,
                                                    do_layer_norm_before=False,
                                                    pad_token_id=1, bos_token_id=2, eos_token_id=2)
    yield "gpt2", GPT2LMHeadModel, GPT2Config(vocab_size=VOCAB, n_embd=48, n_layer=2, n_head=4, n_positions=128,
                                              n_inner=96)


def perturb(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen) * 0.08
            if name.endswith("bias") or "norm" in name or "ln_" in name or "layernorm" in name.lower():
                base = torch.ones_like(p) if name.endswith("weight") else torch.zeros_like(p)
                p.copy_(base + noise * 1.5)
            else:
                p.copy_(noise)


def batch():
    gen = torch.Generator().manual_seed(1234)
    ids = torch.randint(3, VOCAB, (B, T), generator=gen)
    mask = torch.ones(B, T, dtype=torch.int64)
    mask[1, :PAD] = 0
    return ids, mask


def logits_of(model, ids, mask=None):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits.float().cpu().contiguous()


def bf16_logits(folder, cls, ids):
    if not torch.cuda.is_available():
        return None
    m = cls.from_pretrained(folder, dtype=torch.bfloat16, attn_implementation="sdpa").cuda().eval()
    out = logits_of(m, ids.cuda())
    del m
    return out


def make(out, name, cls, config, gen):
    config.architectures = [cls.__name__]
    model = cls(config)
    model.eval()
    perturb(model, gen)
    folder = os.path.join(out, "models", name)
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(folder)
    for extra in ("generation_config.json",):
        path = os.path.join(folder, extra)
        if os.path.exists(path):
            os.remove(path)
    # Reference: a fresh load of what was saved, eager attention, fp32, CPU.
    ref = cls.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
    ids, mask = batch()
    tensors = {"input_ids": ids, "attention_mask": mask, "logits": logits_of(ref, ids),
               "logits_padded": logits_of(ref, ids, mask)}
    bf16 = bf16_logits(folder, cls, ids)
    if bf16 is not None:
        tensors["logits_bf16"] = bf16
    save_file(tensors, os.path.join(out, "golden", name + ".safetensors"))
    print(f"{name}: {sum(p.numel() for p in ref.parameters())} params")
    return ref


def make_qwen(out, gen):
    """The original Qwen's names and config around a Qwen2 model (see the module docstring)."""
    cfg = rope(Qwen2Config, 10000.0, None, rms_norm_eps=1e-6, tie_word_embeddings=False,
               **{**common, "num_key_value_heads": common["num_attention_heads"]})
    cfg.architectures = ["Qwen2ForCausalLM"]
    ref = Qwen2ForCausalLM(cfg).eval()
    perturb(ref, gen)
    sd = {k: v.detach().clone().contiguous() for k, v in ref.state_dict().items()}
    q = {}
    q["transformer.wte.weight"] = sd["model.embed_tokens.weight"]
    for i in range(cfg.num_hidden_layers):
        p, h = f"model.layers.{i}.", f"transformer.h.{i}."
        a = p + "self_attn."
        q[h + "ln_1.weight"] = sd[p + "input_layernorm.weight"]
        q[h + "attn.c_attn.weight"] = torch.cat([sd[a + "q_proj.weight"], sd[a + "k_proj.weight"],
                                                 sd[a + "v_proj.weight"]], 0).contiguous()
        q[h + "attn.c_attn.bias"] = torch.cat([sd[a + "q_proj.bias"], sd[a + "k_proj.bias"],
                                               sd[a + "v_proj.bias"]], 0).contiguous()
        q[h + "attn.c_proj.weight"] = sd[a + "o_proj.weight"]
        q[h + "ln_2.weight"] = sd[p + "post_attention_layernorm.weight"]
        q[h + "mlp.w1.weight"] = sd[p + "mlp.up_proj.weight"]
        q[h + "mlp.w2.weight"] = sd[p + "mlp.gate_proj.weight"]
        q[h + "mlp.c_proj.weight"] = sd[p + "mlp.down_proj.weight"]
    q["transformer.ln_f.weight"] = sd["model.norm.weight"]
    q["lm_head.weight"] = sd["lm_head.weight"]
    folder = os.path.join(out, "models", "qwen")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    save_file(q, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["QWenLMHeadModel"], "model_type": "qwen",
        "auto_map": {"AutoConfig": "configuration_qwen.QWenConfig",
                     "AutoModelForCausalLM": "modeling_qwen.QWenLMHeadModel"},
        "vocab_size": VOCAB, "hidden_size": cfg.hidden_size, "num_hidden_layers": cfg.num_hidden_layers,
        "num_attention_heads": cfg.num_attention_heads, "kv_channels": cfg.hidden_size // cfg.num_attention_heads,
        "intermediate_size": 2 * cfg.intermediate_size, "layer_norm_epsilon": cfg.rms_norm_eps,
        "rotary_emb_base": 10000, "rotary_pct": 1.0, "seq_length": 128, "max_position_embeddings": 128,
        "no_bias": True, "use_dynamic_ntk": True, "use_logn_attn": True, "use_flash_attn": "auto",
        "tie_word_embeddings": False, "emb_dropout_prob": 0.0, "attn_dropout_prob": 0.0,
        "initializer_range": 0.02, "bf16": False, "fp16": False, "fp32": False,
    }
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    ids, mask = batch()
    tensors = {"input_ids": ids, "attention_mask": mask, "logits": logits_of(ref, ids),
               "logits_padded": logits_of(ref, ids, mask)}
    if torch.cuda.is_available():
        tmp = os.path.join(out, "golden", "_qwen2_tmp")
        ref.save_pretrained(tmp)
        tensors["logits_bf16"] = bf16_logits(tmp, Qwen2ForCausalLM, ids)
        shutil.rmtree(tmp)
    save_file(tensors, os.path.join(out, "golden", "qwen.safetensors"))
    print("qwen: built from a Qwen2 model")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/data")
    args = ap.parse_args()
    torch.manual_seed(0)
    os.makedirs(os.path.join(args.out, "golden"), exist_ok=True)
    print("transformers", transformers.__version__, "torch", torch.__version__)
    gen = torch.Generator().manual_seed(42)
    for name, cls, config in fixtures():
        make(args.out, name, cls, config, gen)
    make_qwen(args.out, gen)
    with open(os.path.join(args.out, "golden", "VERSIONS.txt"), "w") as f:
        f.write(f"transformers {transformers.__version__}\ntorch {torch.__version__}\n")


if __name__ == "__main__":
    main()
