// Helpers shared by the family files (not part of the public model API).
#pragma once

#include "distill/models/hf_config.h"
#include "distill/models/spec.h"

namespace distill::models {

// hidden_act / activation_function -> Activation; unknown values are an InputError naming the key.
Activation parse_activation(const HfConfig& config, const std::string& key, const std::string& fallback);

// The LLaMA-style config keys (vocab_size, hidden_size, ..., rms_norm_eps, rope) shared by LLaMA,
// Mistral, Qwen2 and Qwen3.
ModelSpec parse_llama_like(const HfConfig& config, double default_eps);

// Qwen2/Qwen3 per-layer sliding windows: layer_types when given, else use_sliding_window +
// max_window_layers as transformers computes them.
void parse_qwen_sliding_window(const HfConfig& config, ModelSpec& spec);

// For a model keeping the layers `kept` (ascending teacher indices): layer_types sliced to them, and
// max_window_layers counting the kept layers below it, so every kept layer keeps its attention kind.
void resize_layer_types(nlohmann::json& config, const std::vector<std::int64_t>& kept);

}  // namespace distill::models
