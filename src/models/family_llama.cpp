// LLaMA-2/3 and Mistral: RMSNorm, SwiGLU MLP, RoPE, GQA; Mistral adds a sliding window. Also the
// llama-style weight map shared with Qwen2 and Qwen3.
#include "distill/models/family_common.h"
#include "distill/models/registry.h"

namespace distill::models {

ModelSpec parse_llama_like(const HfConfig& c, double default_eps) {
  ModelSpec s;
  s.base_prefix = "model.";
  s.vocab_size = c.integer("vocab_size");
  s.hidden_size = c.integer("hidden_size");
  s.embed_dim = s.hidden_size;
  s.intermediate_size = c.integer("intermediate_size");
  s.num_layers = c.integer("num_hidden_layers");
  s.num_heads = c.integer("num_attention_heads");
  s.num_kv_heads = c.integer("num_key_value_heads", s.num_heads);
  if (s.num_heads <= 0) c.fail("num_attention_heads", "must be positive");
  if (!c.has("head_dim") && s.hidden_size % s.num_heads != 0) {
    c.fail("num_attention_heads", "must divide hidden_size when head_dim is not given");
  }
  s.head_dim = c.integer("head_dim", s.hidden_size / s.num_heads);
  s.max_positions = c.integer("max_position_embeddings", 2048);
  s.norm = NormKind::kRMSNorm;
  s.norm_eps = c.number("rms_norm_eps", default_eps);
  s.activation = parse_activation(c, "hidden_act", "silu");
  s.gated_mlp = true;
  s.qkv_bias = s.o_bias = c.boolean("attention_bias", false);
  s.mlp_bias = c.boolean("mlp_bias", false);
  s.rope = parse_rope(c, 10000.0);
  s.tie_word_embeddings = c.boolean("tie_word_embeddings", false);
  s.sliding_window.assign(static_cast<size_t>(s.num_layers), 0);
  return s;
}

ModelSpec parse_llama(const HfConfig& c) { return parse_llama_like(c, 1e-6); }

ModelSpec parse_mistral(const HfConfig& c) {
  ModelSpec s = parse_llama_like(c, 1e-6);
  // Every layer uses the window when one is set (null = full attention).
  const std::int64_t window = c.integer("sliding_window", 0);
  if (window < 0) c.fail("sliding_window", "must be positive or null");
  s.sliding_window.assign(static_cast<size_t>(s.num_layers), window);
  return s;
}

std::vector<WeightRule> llama_style_weights(const ModelSpec& s) {
  std::vector<WeightRule> rules;
  const std::string m = "model.";
  rules.push_back({"embed.weight", {m + "embed_tokens.weight"}});
  for (std::int64_t i = 0; i < s.num_layers; ++i) {
    const std::string ours = "layers." + std::to_string(i) + ".";
    const std::string hf = m + "layers." + std::to_string(i) + ".";
    rules.push_back({ours + "attn_norm.weight", {hf + "input_layernorm.weight"}});
    const std::string a = hf + "self_attn.";
    rules.push_back({ours + "attn.qkv.weight", {a + "q_proj.weight", a + "k_proj.weight", a + "v_proj.weight"},
                     {s.q_size(), s.kv_size(), s.kv_size()}});
    if (s.qkv_bias) {
      rules.push_back({ours + "attn.qkv.bias", {a + "q_proj.bias", a + "k_proj.bias", a + "v_proj.bias"},
                       {s.q_size(), s.kv_size(), s.kv_size()}});
    }
    rules.push_back({ours + "attn.o.weight", {a + "o_proj.weight"}});
    if (s.o_bias) rules.push_back({ours + "attn.o.bias", {a + "o_proj.bias"}});
    if (s.qk_norm) {
      rules.push_back({ours + "attn.q_norm.weight", {a + "q_norm.weight"}});
      rules.push_back({ours + "attn.k_norm.weight", {a + "k_norm.weight"}});
    }
    rules.push_back({ours + "mlp_norm.weight", {hf + "post_attention_layernorm.weight"}});
    rules.push_back({ours + "mlp.up.weight", {hf + "mlp.gate_proj.weight", hf + "mlp.up_proj.weight"},
                     {s.intermediate_size, s.intermediate_size}});
    if (s.mlp_bias) {
      rules.push_back({ours + "mlp.up.bias", {hf + "mlp.gate_proj.bias", hf + "mlp.up_proj.bias"},
                       {s.intermediate_size, s.intermediate_size}});
    }
    rules.push_back({ours + "mlp.down.weight", {hf + "mlp.down_proj.weight"}});
    if (s.mlp_bias) rules.push_back({ours + "mlp.down.bias", {hf + "mlp.down_proj.bias"}});
  }
  rules.push_back({"final_norm.weight", {m + "norm.weight"}});
  if (!s.tie_word_embeddings) rules.push_back({"lm_head.weight", {"lm_head.weight"}});
  return rules;
}

void resize_llama_like(nlohmann::json& c, const ModelSpec& shape, const Layers& kept) {
  c["num_hidden_layers"] = shape.num_layers;
  c["num_attention_heads"] = shape.num_heads;
  c["num_key_value_heads"] = shape.num_kv_heads;
  c["hidden_size"] = shape.hidden_size;
  c["intermediate_size"] = shape.intermediate_size;
  // head_dim is implied by hidden_size / heads only while that still holds; Qwen3's default is 128.
  if (c.contains("head_dim") || shape.hidden_size != shape.num_heads * shape.head_dim || shape.family == "qwen3") {
    c["head_dim"] = shape.head_dim;
  }
  resize_layer_types(c, kept);
}

}  // namespace distill::models
