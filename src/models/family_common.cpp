// Activation names and other config translations shared by several families.
#include "distill/models/family_common.h"

namespace distill::models {

Activation parse_activation(const HfConfig& c, const std::string& key, const std::string& fallback) {
  const std::string name = c.string(key, fallback);
  if (name == "silu" || name == "swish") return Activation::kSiLU;
  if (name == "relu") return Activation::kReLU;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::kGeluTanh;
  if (name == "gelu") return Activation::kGelu;
  c.fail(key, "is '" + name + "', which distill does not support (supported: silu, relu, gelu, gelu_new, "
                              "gelu_pytorch_tanh)");
}

void parse_qwen_sliding_window(const HfConfig& c, ModelSpec& s) {
  s.sliding_window.assign(static_cast<size_t>(s.num_layers), 0);
  const bool use = c.boolean("use_sliding_window", false);
  const std::int64_t window = c.integer("sliding_window", 0);
  const auto& j = c.json();
  if (c.has("layer_types")) {
    const auto& types = j["layer_types"];
    if (!types.is_array() || static_cast<std::int64_t>(types.size()) != s.num_layers) {
      c.fail("layer_types", "must list one type per layer (" + std::to_string(s.num_layers) + ")");
    }
    for (size_t i = 0; i < types.size(); ++i) {
      const std::string t = types[i].is_string() ? types[i].get<std::string>() : "";
      if (t == "sliding_attention") {
        if (!use || window <= 0) continue;  // transformers drops the window unless use_sliding_window
        s.sliding_window[i] = window;
      } else if (t != "full_attention") {
        c.fail("layer_types", "entry " + std::to_string(i) + " must be full_attention or sliding_attention");
      }
    }
    return;
  }
  if (!use || window <= 0) return;
  const std::int64_t first = c.integer("max_window_layers", s.num_layers);
  for (std::int64_t i = first; i < s.num_layers; ++i) s.sliding_window[static_cast<size_t>(i)] = window;
}

void resize_layer_types(nlohmann::json& config, const std::vector<std::int64_t>& kept) {
  if (config.contains("layer_types") && config["layer_types"].is_array()) {
    nlohmann::json types = nlohmann::json::array();
    for (std::int64_t i : kept) types.push_back(config["layer_types"].at(static_cast<size_t>(i)));
    config["layer_types"] = types;
  }
  if (config.contains("max_window_layers") && config["max_window_layers"].is_number_integer()) {
    const std::int64_t first = config["max_window_layers"].get<std::int64_t>();
    std::int64_t below = 0;
    for (std::int64_t i : kept) below += i < first ? 1 : 0;
    // Left as it was when every kept layer is below it (the common "28 of 28 full attention" case).
    if (below < static_cast<std::int64_t>(kept.size())) config["max_window_layers"] = below;
  }
}

}  // namespace distill::models
