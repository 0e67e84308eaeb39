// Random initialisation: normal matrices, zero biases, unit norms.
#include "distill/models/init.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

namespace distill::models {
namespace {

bool is_norm(const std::string& name) { return name.find("norm.") != std::string::npos; }
bool is_bias(const std::string& name) { return name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0; }

}  // namespace

void init_random(CausalLMImpl& model, std::uint64_t seed, double std) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& item : model.named_parameters()) {
    at::Tensor& p = item.value();
    const std::string& name = item.key();
    if (is_norm(name)) {
      p.fill_(is_bias(name) ? 0.0 : 1.0);
    } else if (is_bias(name)) {
      p.zero_();
    } else if (p.device().is_cpu()) {
      p.normal_(0.0, std, gen);
    } else {
      // Draw on the device directly (a 7B model never passes through host memory); seeded per tensor.
      p.normal_(0.0, std);
    }
  }
}

}  // namespace distill::models
