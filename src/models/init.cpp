// Random initialisation: normal matrices, zero biases, unit norms, with each family's variations.
#include "distill/models/init.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>

namespace distill::models {
namespace {

bool is_norm(const std::string& name) { return name.find("norm.") != std::string::npos; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool is_bias(const std::string& name) { return ends_with(name, ".bias"); }
bool is_residual_projection(const std::string& name) {
  return ends_with(name, ".attn.o.weight") || ends_with(name, ".mlp.down.weight");
}

double config_number(const nlohmann::json& config, const char* key, double fallback) {
  return config.contains(key) && config[key].is_number() ? config[key].get<double>() : fallback;
}

void fill(CausalLMImpl& model, std::uint64_t seed, const InitScheme& scheme) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& item : model.named_parameters()) {
    at::Tensor& p = item.value();
    const std::string& name = item.key();
    const double sd = is_residual_projection(name) ? scheme.residual_std : scheme.normal_std;
    if (is_norm(name)) {
      p.fill_(is_bias(name) ? 0.0 : 1.0);
    } else if (is_bias(name)) {
      p.zero_();
    } else if (p.device().is_cpu()) {
      p.normal_(0.0, sd, gen);
    } else {
      // Draw on the device directly (a 7B model never passes through host memory); seeded per tensor.
      p.normal_(0.0, sd);
    }
    if (name == "embed.weight" && scheme.padding_row >= 0 && scheme.padding_row < p.size(0)) p[scheme.padding_row].zero_();
  }
}

}  // namespace

InitScheme init_scheme(const ModelSpec& spec) {
  const nlohmann::json& c = spec.hf_config;
  InitScheme s;
  s.normal_std = config_number(c, spec.family == "opt" ? "init_std" : "initializer_range", 0.02);
  s.residual_std = s.normal_std;
  if (spec.family == "gpt2" || spec.family == "qwen") {
    s.residual_std = s.normal_std / std::sqrt(2.0 * static_cast<double>(spec.num_layers));
  }
  // Every family but GPT-2 and the original Qwen builds its token embedding with padding_idx = pad_token_id.
  if (spec.family != "gpt2" && spec.family != "qwen" && c.contains("pad_token_id") &&
      c["pad_token_id"].is_number_integer()) {
    s.padding_row = c["pad_token_id"].get<std::int64_t>();
  }
  return s;
}

void init_random(CausalLMImpl& model, std::uint64_t seed) { fill(model, seed, init_scheme(model.spec())); }

void init_random(CausalLMImpl& model, std::uint64_t seed, double std) {
  InitScheme plain;
  plain.normal_std = plain.residual_std = std;
  fill(model, seed, plain);
}

}  // namespace distill::models
