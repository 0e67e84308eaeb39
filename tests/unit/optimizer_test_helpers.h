// Helpers for the optimizer tests: a small named parameter set, deterministic gradients, and AdamW
// written straight from its definition with plain tensor ops (the reference).
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <string>
#include <vector>

#include "distill/train/optimizer.h"

namespace distill::train::test {

// A matrix (decayed), its bias and a norm weight (both exempt by default), an embedding (decayed)
// and a scalar (exempt); leaves that require grad, like a model's parameters.
inline NamedTensors make_params(at::ScalarType dtype, std::uint64_t seed = 7) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const auto opts = at::TensorOptions().dtype(dtype);
  NamedTensors p;
  p.emplace_back("layers.0.proj.weight", at::randn({5, 3}, gen, opts));   // (out, in)
  p.emplace_back("layers.0.proj.bias", at::randn({5}, gen, opts));
  p.emplace_back("layers.0.norm.weight", 1 + 0.1 * at::randn({3}, gen, opts));
  p.emplace_back("embed.weight", at::randn({7, 3}, gen, opts));           // (V, C)
  p.emplace_back("scale", at::randn({}, gen, opts));
  for (auto& [name, t] : p) t.set_requires_grad(true);
  return p;
}

inline NamedTensors clone_params(const NamedTensors& params) {
  NamedTensors out;
  for (const auto& [name, t] : params) out.emplace_back(name, t.detach().clone().set_requires_grad(true));
  return out;
}

// A gradient that depends on the parameter's current value and on the step (so any divergence in
// the parameters shows up in later steps), with magnitudes that differ between tensors.
inline at::Tensor grad_for(const at::Tensor& p, std::int64_t step, std::size_t index) {
  const double k = 1.0 + 0.37 * static_cast<double>(index);
  return (at::sin(p.detach() * k + 0.5 * static_cast<double>(step)) * (0.1 * k)).contiguous();
}

inline void set_grads(const NamedTensors& params, std::int64_t step) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    params[i].second.mutable_grad() = grad_for(params[i].second, step, i);
  }
}

// AdamW from its definition (Loshchilov & Hutter; torch.optim.AdamW docs), in the m_hat / v_hat form:
//   p <- p - lr*wd*p;  m <- b1*m + (1-b1)*g;  v <- b2*v + (1-b2)*g^2
//   p <- p - lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
struct ReferenceAdamW {
  double b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.0;
  std::vector<at::Tensor> params, m, v;
  std::vector<bool> decay;
  std::vector<std::int64_t> t;

  ReferenceAdamW(const NamedTensors& initial, std::vector<bool> decayed, double beta1, double beta2, double epsilon,
                 double weight_decay)
      : b1(beta1), b2(beta2), eps(epsilon), wd(weight_decay), decay(std::move(decayed)) {
    for (const auto& entry : initial) {
      params.push_back(entry.second.detach().clone());
      m.push_back(at::zeros_like(params.back()));
      v.push_back(at::zeros_like(params.back()));
      t.push_back(0);
    }
  }

  // grads[i] undefined: parameter i is skipped.
  void step(const std::vector<at::Tensor>& grads, double lr) {
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (!grads[i].defined()) continue;
      const at::Tensor& g = grads[i];
      t[i] += 1;
      if (decay[i]) params[i] = params[i] - lr * wd * params[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      const at::Tensor m_hat = m[i] / (1 - std::pow(b1, static_cast<double>(t[i])));
      const at::Tensor v_hat = v[i] / (1 - std::pow(b2, static_cast<double>(t[i])));
      params[i] = params[i] - lr * m_hat / (at::sqrt(v_hat) + eps);
    }
  }
};

// max |a - b| / max |b| (0 when both are zero).
inline double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  const double scale = b.abs().max().item<double>();
  const double diff = (a.detach() - b.detach()).abs().max().item<double>();
  return scale == 0 ? diff : diff / scale;
}

}  // namespace distill::train::test
