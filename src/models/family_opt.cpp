// OPT: learned positions (offset 2, counted over real tokens), LayerNorm pre- or post-norm, ReLU MLP,
// biases everywhere, tied LM head, project_in/out when word_embed_proj_dim differs from hidden_size.
#include "distill/models/family_common.h"
#include "distill/models/registry.h"

namespace distill::models {

ModelSpec parse_opt(const HfConfig& c) {
  ModelSpec s;
  s.base_prefix = "model.";
  s.vocab_size = c.integer("vocab_size");
  s.hidden_size = c.integer("hidden_size");
  s.embed_dim = c.integer("word_embed_proj_dim", s.hidden_size);
  s.intermediate_size = c.integer("ffn_dim");
  s.num_layers = c.integer("num_hidden_layers");
  s.num_heads = c.integer("num_attention_heads");
  s.num_kv_heads = s.num_heads;
  if (s.num_heads <= 0 || s.hidden_size % s.num_heads != 0) {
    c.fail("num_attention_heads", "must divide hidden_size");
  }
  s.head_dim = s.hidden_size / s.num_heads;
  s.max_positions = c.integer("max_position_embeddings", 2048);
  s.norm = NormKind::kLayerNorm;
  s.norm_eps = 1e-5;  // OPT uses nn.LayerNorm's default
  s.pre_norm = c.boolean("do_layer_norm_before", true);
  s.final_norm = s.pre_norm && !c.boolean("_remove_final_layer_norm", false);
  if (!c.boolean("layer_norm_elementwise_affine", true)) {
    c.fail("layer_norm_elementwise_affine", "false is not supported (LayerNorms without weights)");
  }
  s.activation = parse_activation(c, "activation_function", "relu");
  s.gated_mlp = false;
  s.qkv_bias = s.o_bias = s.mlp_bias = c.boolean("enable_bias", true);
  s.positions = Positions::kLearned;
  s.position_offset = 2;
  s.positions_from_mask = true;
  s.tie_word_embeddings = c.boolean("tie_word_embeddings", true);
  s.sliding_window.assign(static_cast<size_t>(s.num_layers), 0);
  return s;
}

std::vector<WeightRule> opt_weights(const ModelSpec& s) {
  std::vector<WeightRule> rules;
  const std::string d = "model.decoder.";
  rules.push_back({"embed.weight", {d + "embed_tokens.weight"}});
  rules.push_back({"pos_embed.weight", {d + "embed_positions.weight"}});
  if (s.embed_dim != s.hidden_size) {
    rules.push_back({"project_in.weight", {d + "project_in.weight"}});
    rules.push_back({"project_out.weight", {d + "project_out.weight"}});
  }
  const char* params[] = {"weight", "bias"};
  for (std::int64_t i = 0; i < s.num_layers; ++i) {
    const std::string ours = "layers." + std::to_string(i) + ".";
    const std::string hf = d + "layers." + std::to_string(i) + ".";
    const std::string a = hf + "self_attn.";
    for (const char* p : params) {
      const std::string suffix = std::string(".") + p;
      const bool is_bias = suffix == ".bias";
      rules.push_back({ours + "attn_norm" + suffix, {hf + "self_attn_layer_norm" + suffix}});
      if (!is_bias || s.qkv_bias) {
        rules.push_back({ours + "attn.qkv" + suffix, {a + "q_proj" + suffix, a + "k_proj" + suffix, a + "v_proj" + suffix},
                         {s.q_size(), s.kv_size(), s.kv_size()}});
        rules.push_back({ours + "attn.o" + suffix, {a + "out_proj" + suffix}});
        rules.push_back({ours + "mlp.up" + suffix, {hf + "fc1" + suffix}});
        rules.push_back({ours + "mlp.down" + suffix, {hf + "fc2" + suffix}});
      }
      rules.push_back({ours + "mlp_norm" + suffix, {hf + "final_layer_norm" + suffix}});
    }
  }
  if (s.final_norm) {
    rules.push_back({"final_norm.weight", {d + "final_layer_norm.weight"}});
    rules.push_back({"final_norm.bias", {d + "final_layer_norm.bias"}});
  }
  if (!s.tie_word_embeddings) rules.push_back({"lm_head.weight", {"lm_head.weight"}});
  return rules;
}

void resize_opt(nlohmann::json& c, const ModelSpec& shape, const Layers&) {
  // Embeddings as wide as the residual stream follow it; a separate word_embed_proj_dim (project_in/out) stays.
  if (!c.contains("word_embed_proj_dim") || c["word_embed_proj_dim"] == c.value("hidden_size", nlohmann::json())) {
    c["word_embed_proj_dim"] = shape.hidden_size;
  }
  c["num_hidden_layers"] = shape.num_layers;
  c["num_attention_heads"] = shape.num_heads;  // head_dim is hidden_size / num_attention_heads
  c["hidden_size"] = shape.hidden_size;
  c["ffn_dim"] = shape.intermediate_size;
}

}  // namespace distill::models
