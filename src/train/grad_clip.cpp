// Global gradient norm (foreach norms, then the norm of the norms) and clipping (see grad_clip.h).
#include "distill/train/grad_clip.h"

#include <ATen/core/grad_mode.h>
#include <ATen/ops/_foreach_mul.h>
#include <ATen/ops/_foreach_norm.h>
#include <ATen/ops/clamp_max.h>
#include <ATen/ops/linalg_vector_norm.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/zeros.h>
#include <torch/version.h>

#include <vector>

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define DISTILL_HAS_FOREACH_MUL_TENSOR 1  // at::_foreach_mul_(TensorList, const Tensor&)
#endif

namespace distill::train {
namespace {

std::vector<at::Tensor> defined_grads(at::TensorList params) {
  std::vector<at::Tensor> grads;
  grads.reserve(params.size());
  for (const at::Tensor& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  return grads;
}

at::Tensor total_norm(const std::vector<at::Tensor>& grads) {
  if (grads.empty()) return at::zeros({}, at::TensorOptions().dtype(at::kFloat));
  at::ScalarType type = at::kFloat;
  for (const at::Tensor& g : grads) type = c10::promoteTypes(type, g.scalar_type());
  const at::Device device = grads.front().device();
  std::vector<at::Tensor> norms = at::_foreach_norm(grads, 2);  // one 0-dim norm per gradient
  for (at::Tensor& n : norms) n = n.to(device, type);
  return at::linalg_vector_norm(at::stack(norms), 2);
}

}  // namespace

at::Tensor grad_norm(at::TensorList params) {
  at::NoGradGuard no_grad;
  return total_norm(defined_grads(params));
}

at::Tensor clip_grad_norm_(at::TensorList params, double max_norm) {
  at::NoGradGuard no_grad;
  const std::vector<at::Tensor> grads = defined_grads(params);
  at::Tensor total = total_norm(grads);
  if (max_norm <= 0 || grads.empty()) return total;
  const at::Tensor coef = clip_coefficient(total, max_norm);
#ifdef DISTILL_HAS_FOREACH_MUL_TENSOR
  bool one_device = true;
  for (const at::Tensor& g : grads) one_device = one_device && g.device() == coef.device();
  if (one_device) {
    at::_foreach_mul_(grads, coef);
    return total;
  }
#endif
  for (const at::Tensor& g : grads) {
    at::Tensor gm = g;
    gm.mul_(coef.to(g.device()));
  }
  return total;
}

at::Tensor clip_coefficient(const at::Tensor& total, double max_norm) {
  at::NoGradGuard no_grad;
  // torch: clip_coef = max_norm / (total_norm + 1e-6), which Python evaluates as a reciprocal times
  // max_norm; then clamp(max=1.0). 0-dim, on the norm's device.
  return at::clamp_max(total.add(1e-6).reciprocal().mul(max_norm), 1.0);
}

}  // namespace distill::train
