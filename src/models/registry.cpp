// Family table and the shared parts of config parsing (RoPE settings, consistency checks).
#include "distill/models/registry.h"

#include <algorithm>

#include "distill/util/errors.h"

namespace distill::models {

const std::vector<Family>& families() {
  static const std::vector<Family> table = {
      {"llama", {"LlamaForCausalLM"}, {"llama"}, parse_llama, llama_style_weights, {"rotary_emb.inv_freq"},
       resize_llama_like},
      {"mistral", {"MistralForCausalLM"}, {"mistral"}, parse_mistral, llama_style_weights, {"rotary_emb.inv_freq"},
       resize_llama_like},
      {"qwen2", {"Qwen2ForCausalLM"}, {"qwen2"}, parse_qwen2, llama_style_weights, {"rotary_emb.inv_freq"},
       resize_llama_like},
      {"qwen3", {"Qwen3ForCausalLM"}, {"qwen3"}, parse_qwen3, llama_style_weights, {"rotary_emb.inv_freq"},
       resize_llama_like},
      {"opt", {"OPTForCausalLM"}, {"opt"}, parse_opt, opt_weights, {}, resize_opt},
      {"gpt2", {"GPT2LMHeadModel"}, {"gpt2"}, parse_gpt2, gpt2_weights, {".attn.bias", ".attn.masked_bias"},
       resize_gpt2},
      {"qwen", {"QWenLMHeadModel"}, {"qwen"}, parse_qwen, qwen_weights, {"rotary_emb.inv_freq"}, resize_qwen},
  };
  return table;
}

const Family& find_family(const HfConfig& config) {
  const auto& j = config.json();
  std::string arch;
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
      j["architectures"][0].is_string()) {
    arch = j["architectures"][0].get<std::string>();
  }
  const std::string model_type = config.string("model_type", "");
  for (const auto& f : families()) {
    if (!arch.empty() && std::count(f.architectures.begin(), f.architectures.end(), arch)) return f;
  }
  for (const auto& f : families()) {
    if (!model_type.empty() && std::count(f.model_types.begin(), f.model_types.end(), model_type)) return f;
  }
  std::string supported;
  for (const auto& f : families()) supported += (supported.empty() ? "" : ", ") + f.architectures[0];
  const std::string what = !arch.empty() ? "architecture '" + arch + "'"
                           : !model_type.empty() ? "model_type '" + model_type + "'"
                                                 : "no 'architectures' or 'model_type' key";
  throw InputError(config.path(), "unsupported model: " + what, "supported architectures: " + supported);
}

const Family& family_of(const ModelSpec& spec) {
  for (const auto& f : families()) {
    if (f.name == spec.family) return f;
  }
  throw Error(ExitCode::kInternal, "no model family named '" + spec.family + "'");
}

ModelSpec spec_from_config(const HfConfig& config) {
  const Family& family = find_family(config);
  ModelSpec spec = family.parse(config);
  spec.family = family.name;
  if (spec.architecture.empty()) spec.architecture = family.architectures[0];
  spec.hf_config = config.json();
  check_spec(spec, config);
  return spec;
}

ModelSpec read_spec(const std::string& model_dir) { return spec_from_config(HfConfig::read(model_dir)); }

std::vector<WeightRule> weight_rules(const ModelSpec& spec) { return family_of(spec).weights(spec); }

RopeSpec parse_rope(const HfConfig& config, double default_theta) {
  RopeSpec rope;
  const auto& j = config.json();
  // transformers 5 writes rope_parameters {rope_type, rope_theta, ...}; 4.x wrote rope_theta + rope_scaling.
  nlohmann::json params = nlohmann::json::object();
  std::string where = "rope_scaling";
  if (config.has("rope_parameters")) {
    params = j["rope_parameters"];
    where = "rope_parameters";
  } else if (config.has("rope_scaling")) {
    params = j["rope_scaling"];
  }
  if (!params.is_object()) config.fail(where, "must be an object, got " + params.dump());
  HfConfig p(params, config.path() + " (" + where + ")");
  rope.theta = p.has("rope_theta") ? p.number("rope_theta") : config.number("rope_theta", default_theta);
  std::string type = p.string("rope_type", p.string("type", "default"));
  if (type == "default") {
    rope.scaling = RopeScaling::kNone;
  } else if (type == "linear") {
    rope.scaling = RopeScaling::kLinear;
    rope.factor = p.number("factor");
  } else if (type == "llama3") {
    rope.scaling = RopeScaling::kLlama3;
    rope.factor = p.number("factor");
    rope.low_freq_factor = p.number("low_freq_factor");
    rope.high_freq_factor = p.number("high_freq_factor");
    rope.original_max_positions = p.integer("original_max_position_embeddings");
    if (rope.high_freq_factor <= rope.low_freq_factor) {
      config.fail(where + ".high_freq_factor", "must be greater than low_freq_factor");
    }
  } else {
    config.fail(where + ".rope_type",
                "is '" + type + "', which distill does not support (supported: default, linear, llama3)");
  }
  if (rope.factor <= 0) config.fail(where + ".factor", "must be positive");
  if (rope.theta <= 0) config.fail("rope_theta", "must be positive");
  return rope;
}

void check_spec(const ModelSpec& s, const HfConfig& config) {
  auto positive = [&](const char* key, std::int64_t v) {
    if (v <= 0) config.fail(key, "must be positive, got " + std::to_string(v));
  };
  positive("vocab_size", s.vocab_size);
  positive("hidden_size", s.hidden_size);
  positive("intermediate_size", s.intermediate_size);
  positive("num_hidden_layers", s.num_layers);
  positive("num_attention_heads", s.num_heads);
  positive("num_key_value_heads", s.num_kv_heads);
  positive("head_dim", s.head_dim);
  if (s.num_heads % s.num_kv_heads != 0) {
    config.fail("num_key_value_heads", "(" + std::to_string(s.num_kv_heads) +
                                           ") must divide num_attention_heads (" + std::to_string(s.num_heads) + ")");
  }
  if (s.positions == Positions::kRope && s.head_dim % 2 != 0) {
    config.fail("head_dim", "must be even for rotary embeddings, got " + std::to_string(s.head_dim));
  }
  if (s.positions == Positions::kLearned) positive("max_position_embeddings", s.max_positions);
  if (static_cast<std::int64_t>(s.sliding_window.size()) != s.num_layers) {
    throw Error(ExitCode::kInternal, "sliding_window must have one entry per layer");
  }
}

}  // namespace distill::models
