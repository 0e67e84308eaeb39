// Qwen2/2.5 (q/k/v biases) and Qwen3 (q/k RMSNorm, head_dim independent of hidden/heads).
#include "distill/models/family_common.h"
#include "distill/models/registry.h"

namespace distill::models {

ModelSpec parse_qwen2(const HfConfig& c) {
  ModelSpec s = parse_llama_like(c, 1e-6);
  s.qkv_bias = true;  // Qwen2 always has q/k/v biases and none on o_proj
  s.o_bias = false;
  s.mlp_bias = false;
  parse_qwen_sliding_window(c, s);
  return s;
}

ModelSpec parse_qwen3(const HfConfig& c) {
  if (!c.has("head_dim")) {
    // Qwen3Config's default head_dim is 128, not hidden_size / num_attention_heads.
    nlohmann::json j = c.json();
    j["head_dim"] = 128;
    return parse_qwen3(HfConfig(j, c.path()));
  }
  ModelSpec s = parse_llama_like(c, 1e-6);
  s.qkv_bias = s.o_bias = c.boolean("attention_bias", false);
  s.mlp_bias = false;
  s.qk_norm = true;
  parse_qwen_sliding_window(c, s);
  return s;
}

}  // namespace distill::models
