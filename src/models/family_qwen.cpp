// The original Qwen (QWenLMHeadModel, trust_remote_code): fused c_attn with bias, SwiGLU as
// w1 * silu(w2), intermediate_size counting both branches, RMSNorm, RoPE rotated in fp32.
// Positions beyond seq_length (dynamic NTK, logn attention) are not modelled; up to seq_length the
// model computes exactly the function of a Qwen2 model with the same weights.
#include "distill/models/family_common.h"
#include "distill/models/registry.h"

namespace distill::models {

ModelSpec parse_qwen(const HfConfig& c) {
  ModelSpec s;
  s.base_prefix = "transformer.";
  s.vocab_size = c.integer("vocab_size");
  s.hidden_size = c.integer("hidden_size");
  s.embed_dim = s.hidden_size;
  const std::int64_t both = c.integer("intermediate_size");
  if (both % 2 != 0) c.fail("intermediate_size", "must be even (it counts both SwiGLU branches)");
  s.intermediate_size = both / 2;
  s.num_layers = c.integer("num_hidden_layers");
  s.num_heads = c.integer("num_attention_heads");
  s.num_kv_heads = s.num_heads;
  if (s.num_heads <= 0) c.fail("num_attention_heads", "must be positive");
  s.head_dim = c.integer("kv_channels", s.hidden_size / s.num_heads);
  s.max_positions = c.integer("seq_length", 8192);
  s.norm = NormKind::kRMSNorm;
  s.norm_eps = c.number("layer_norm_epsilon", 1e-6);
  s.activation = Activation::kSiLU;
  s.gated_mlp = true;
  const bool bias = !c.boolean("no_bias", true);
  s.qkv_bias = true;  // c_attn always carries a bias
  s.o_bias = bias;
  s.mlp_bias = bias;
  if (c.number("rotary_pct", 1.0) != 1.0) c.fail("rotary_pct", "values other than 1.0 are not supported");
  s.rope.theta = c.number("rotary_emb_base", 10000.0);
  s.rope.compute_in_fp32 = true;
  s.tie_word_embeddings = c.boolean("tie_word_embeddings", false);
  s.sliding_window.assign(static_cast<size_t>(s.num_layers), 0);
  return s;
}

std::vector<WeightRule> qwen_weights(const ModelSpec& s) {
  std::vector<WeightRule> rules;
  const std::string t = "transformer.";
  rules.push_back({"embed.weight", {t + "wte.weight"}});
  for (std::int64_t i = 0; i < s.num_layers; ++i) {
    const std::string ours = "layers." + std::to_string(i) + ".";
    const std::string hf = t + "h." + std::to_string(i) + ".";
    rules.push_back({ours + "attn_norm.weight", {hf + "ln_1.weight"}});
    rules.push_back({ours + "attn.qkv.weight", {hf + "attn.c_attn.weight"}});
    rules.push_back({ours + "attn.qkv.bias", {hf + "attn.c_attn.bias"}});
    rules.push_back({ours + "attn.o.weight", {hf + "attn.c_proj.weight"}});
    if (s.o_bias) rules.push_back({ours + "attn.o.bias", {hf + "attn.c_proj.bias"}});
    rules.push_back({ours + "mlp_norm.weight", {hf + "ln_2.weight"}});
    // Our fused up is [gate | up]; Qwen's gate is w2 (it computes w1(x) * silu(w2(x))).
    rules.push_back({ours + "mlp.up.weight", {hf + "mlp.w2.weight", hf + "mlp.w1.weight"},
                     {s.intermediate_size, s.intermediate_size}});
    if (s.mlp_bias) {
      rules.push_back({ours + "mlp.up.bias", {hf + "mlp.w2.bias", hf + "mlp.w1.bias"},
                       {s.intermediate_size, s.intermediate_size}});
    }
    rules.push_back({ours + "mlp.down.weight", {hf + "mlp.c_proj.weight"}});
    if (s.mlp_bias) rules.push_back({ours + "mlp.down.bias", {hf + "mlp.c_proj.bias"}});
  }
  rules.push_back({"final_norm.weight", {t + "ln_f.weight"}});
  if (!s.tie_word_embeddings) rules.push_back({"lm_head.weight", {"lm_head.weight"}});
  return rules;
}

void resize_qwen(nlohmann::json& c, const ModelSpec& shape, const Layers&) {
  c["num_hidden_layers"] = shape.num_layers;
  c["num_attention_heads"] = shape.num_heads;
  c["hidden_size"] = shape.hidden_size;
  c["intermediate_size"] = 2 * shape.intermediate_size;  // counts both SwiGLU branches
  c["kv_channels"] = shape.head_dim;
}

}  // namespace distill::models
