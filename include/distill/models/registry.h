// The model-family registry: config.json (architectures[0] / model_type) -> ModelSpec + weight-name map.
#pragma once

#include <string>
#include <vector>

#include "distill/models/hf_config.h"
#include "distill/models/spec.h"

namespace distill::models {

struct Family {
  std::string name;                        // "llama"
  std::vector<std::string> architectures;  // config.json "architectures" values it serves
  std::vector<std::string> model_types;    // config.json "model_type" values it serves
  ModelSpec (*parse)(const HfConfig& config);
  std::vector<WeightRule> (*weights)(const ModelSpec& spec);
  // Checkpoint tensors that are not weights (cached buffers some exporters write); ignored on load.
  std::vector<std::string> ignored_suffixes;
  // Writes a resized model's sizes into a copy of config.json (the inverse of `parse` for the sizes):
  // shape's num_layers, num_heads, num_kv_heads, head_dim, hidden_size and intermediate_size, for a
  // model keeping the teacher layers `kept_layers` (per-layer settings follow their layer).
  void (*resize)(nlohmann::json& config, const ModelSpec& shape, const std::vector<std::int64_t>& kept_layers);
};

// Every supported family, in registry order.
const std::vector<Family>& families();

// The family serving this config (architectures[0] first, then model_type). Unknown -> InputError
// listing the supported architectures.
const Family& find_family(const HfConfig& config);

// Reads <dir>/config.json and returns the checked spec.
ModelSpec read_spec(const std::string& model_dir);
ModelSpec spec_from_config(const HfConfig& config);

// Our parameter names with their HF sources, for this spec.
std::vector<WeightRule> weight_rules(const ModelSpec& spec);
const Family& family_of(const ModelSpec& spec);

// Family parsers and weight maps (one file per family under src/models/).
ModelSpec parse_llama(const HfConfig& config);
ModelSpec parse_mistral(const HfConfig& config);
ModelSpec parse_qwen2(const HfConfig& config);
ModelSpec parse_qwen3(const HfConfig& config);
ModelSpec parse_opt(const HfConfig& config);
ModelSpec parse_gpt2(const HfConfig& config);
ModelSpec parse_qwen(const HfConfig& config);
std::vector<WeightRule> llama_style_weights(const ModelSpec& spec);  // llama, mistral, qwen2, qwen3
std::vector<WeightRule> opt_weights(const ModelSpec& spec);
std::vector<WeightRule> gpt2_weights(const ModelSpec& spec);
std::vector<WeightRule> qwen_weights(const ModelSpec& spec);
using Layers = std::vector<std::int64_t>;
void resize_llama_like(nlohmann::json& config, const ModelSpec& shape, const Layers& kept);  // llama, mistral, qwen2, qwen3
void resize_opt(nlohmann::json& config, const ModelSpec& shape, const Layers& kept);
void resize_gpt2(nlohmann::json& config, const ModelSpec& shape, const Layers& kept);
void resize_qwen(nlohmann::json& config, const ModelSpec& shape, const Layers& kept);

// Shared by the RoPE families: rope_parameters (transformers 5) or rope_theta + rope_scaling (4.x).
RopeSpec parse_rope(const HfConfig& config, double default_theta);
// Checks the spec's internal consistency (heads divide, sizes positive); InputError naming config.json.
void check_spec(const ModelSpec& spec, const HfConfig& config);

}  // namespace distill::models
