// GPT-2: learned positions, pre-LayerNorm, GELU (tanh) MLP, fused c_attn, Conv1D weights stored as
// [in, out] (transposed at load), tied LM head.
#include "distill/models/family_common.h"
#include "distill/models/registry.h"

namespace distill::models {

ModelSpec parse_gpt2(const HfConfig& c) {
  ModelSpec s;
  s.base_prefix = "transformer.";
  s.vocab_size = c.integer("vocab_size");
  s.hidden_size = c.integer("n_embd");
  s.embed_dim = s.hidden_size;
  s.intermediate_size = c.integer("n_inner", 4 * s.hidden_size);
  s.num_layers = c.integer("n_layer");
  s.num_heads = c.integer("n_head");
  s.num_kv_heads = s.num_heads;
  if (s.num_heads <= 0 || s.hidden_size % s.num_heads != 0) c.fail("n_head", "must divide n_embd");
  s.head_dim = s.hidden_size / s.num_heads;
  s.max_positions = c.integer("n_positions", 1024);
  s.norm = NormKind::kLayerNorm;
  s.norm_eps = c.number("layer_norm_epsilon", 1e-5);
  s.activation = parse_activation(c, "activation_function", "gelu_new");
  s.gated_mlp = false;
  s.qkv_bias = s.o_bias = s.mlp_bias = true;
  s.positions = Positions::kLearned;
  s.tie_word_embeddings = c.boolean("tie_word_embeddings", true);
  if (!c.boolean("scale_attn_weights", true)) {
    c.fail("scale_attn_weights", "false is not supported (attention scores are always scaled by 1/sqrt(head_dim))");
  }
  if (c.boolean("scale_attn_by_inverse_layer_idx", false)) {
    for (std::int64_t i = 0; i < s.num_layers; ++i) s.attn_score_divisor.push_back(static_cast<double>(i + 1));
  }
  s.sliding_window.assign(static_cast<size_t>(s.num_layers), 0);
  return s;
}

std::vector<WeightRule> gpt2_weights(const ModelSpec& s) {
  std::vector<WeightRule> rules;
  const std::string t = "transformer.";
  const auto T = Transform::kTranspose;
  rules.push_back({"embed.weight", {t + "wte.weight"}});
  rules.push_back({"pos_embed.weight", {t + "wpe.weight"}});
  for (std::int64_t i = 0; i < s.num_layers; ++i) {
    const std::string ours = "layers." + std::to_string(i) + ".";
    const std::string hf = t + "h." + std::to_string(i) + ".";
    rules.push_back({ours + "attn_norm.weight", {hf + "ln_1.weight"}});
    rules.push_back({ours + "attn_norm.bias", {hf + "ln_1.bias"}});
    rules.push_back({ours + "attn.qkv.weight", {hf + "attn.c_attn.weight"}, {}, T});
    rules.push_back({ours + "attn.qkv.bias", {hf + "attn.c_attn.bias"}});
    rules.push_back({ours + "attn.o.weight", {hf + "attn.c_proj.weight"}, {}, T});
    rules.push_back({ours + "attn.o.bias", {hf + "attn.c_proj.bias"}});
    rules.push_back({ours + "mlp_norm.weight", {hf + "ln_2.weight"}});
    rules.push_back({ours + "mlp_norm.bias", {hf + "ln_2.bias"}});
    rules.push_back({ours + "mlp.up.weight", {hf + "mlp.c_fc.weight"}, {}, T});
    rules.push_back({ours + "mlp.up.bias", {hf + "mlp.c_fc.bias"}});
    rules.push_back({ours + "mlp.down.weight", {hf + "mlp.c_proj.weight"}, {}, T});
    rules.push_back({ours + "mlp.down.bias", {hf + "mlp.c_proj.bias"}});
  }
  rules.push_back({"final_norm.weight", {t + "ln_f.weight"}});
  rules.push_back({"final_norm.bias", {t + "ln_f.bias"}});
  if (!s.tie_word_embeddings) rules.push_back({"lm_head.weight", {"lm_head.weight"}});
  return rules;
}

void resize_gpt2(nlohmann::json& c, const ModelSpec& shape, const Layers&) {
  c["n_layer"] = shape.num_layers;
  c["n_head"] = shape.num_heads;  // head_dim is n_embd / n_head
  c["n_embd"] = shape.hidden_size;
  c["n_inner"] = shape.intermediate_size;
}

}  // namespace distill::models
