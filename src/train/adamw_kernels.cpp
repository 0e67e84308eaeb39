// AdamW update paths: per-tensor loop (reference), foreach multi-tensor ops, fused CUDA kernel.
#include "adamw_kernels.h"

#include <ATen/ops/_foreach_add.h>
#include <ATen/ops/_foreach_addcdiv.h>
#include <ATen/ops/_foreach_addcmul.h>
#include <ATen/ops/_foreach_div.h>
#include <ATen/ops/_foreach_mul.h>
#include <ATen/ops/_foreach_sqrt.h>
#include <ATen/ops/_foreach_sub.h>
#include <torch/version.h>

#include <cmath>
#include <stdexcept>

#if defined(DISTILL_WITH_CUDA) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1))
#define DISTILL_HAS_FUSED_ADAMW 1
#include <ATen/ops/_fused_adamw.h>
#endif

namespace distill::train {

bool fused_adamw_built() {
#ifdef DISTILL_HAS_FUSED_ADAMW
  return true;
#else
  return false;
#endif
}

namespace detail {
namespace {

// Host-side scalars of one tensor's update, computed in double as torch does in Python.
struct StepScalars {
  double step_size;  // lr / (1 - beta1^t)
  double bc2_sqrt;   // sqrt(1 - beta2^t)
};

StepScalars scalars(const AdamWHyper& h, std::int64_t step) {
  const double t = static_cast<double>(step);
  const double bc1 = 1.0 - std::pow(h.beta1, t);
  const double bc2 = 1.0 - std::pow(h.beta2, t);
  return {h.lr / bc1, std::sqrt(bc2)};
}

}  // namespace

void adamw_loop(const AdamWBatch& b, const AdamWHyper& h) {
  for (std::size_t i = 0; i < b.params.size(); ++i) {
    at::Tensor p = b.params[i];
    at::Tensor m = b.exp_avgs[i];
    at::Tensor v = b.exp_avg_sqs[i];
    const at::Tensor& g = b.grads[i];
    const StepScalars s = scalars(h, b.steps[i]);
    if (h.weight_decay != 0) p.mul_(1.0 - h.lr * h.weight_decay);
    m.mul_(h.beta1).add_(g, 1.0 - h.beta1);
    v.mul_(h.beta2).addcmul_(g, g, 1.0 - h.beta2);
    at::Tensor denom = v.sqrt().div_(s.bc2_sqrt).add_(h.eps);
    p.addcdiv_(m, denom, -s.step_size);
  }
}

void adamw_foreach(const AdamWBatch& b, const AdamWHyper& h) {
  if (b.params.empty()) return;
  std::vector<at::Scalar> neg_step_sizes, bc2_sqrts;
  neg_step_sizes.reserve(b.params.size());
  bc2_sqrts.reserve(b.params.size());
  for (const std::int64_t step : b.steps) {
    const StepScalars s = scalars(h, step);
    neg_step_sizes.emplace_back(-s.step_size);
    bc2_sqrts.emplace_back(s.bc2_sqrt);
  }
  if (h.weight_decay != 0) at::_foreach_mul_(b.params, 1.0 - h.lr * h.weight_decay);
  at::_foreach_mul_(b.exp_avgs, h.beta1);
  at::_foreach_add_(b.exp_avgs, b.grads, 1.0 - h.beta1);
  at::_foreach_mul_(b.exp_avg_sqs, h.beta2);
  at::_foreach_addcmul_(b.exp_avg_sqs, b.grads, b.grads, 1.0 - h.beta2);
  std::vector<at::Tensor> denoms = at::_foreach_sqrt(b.exp_avg_sqs);
  at::_foreach_div_(denoms, bc2_sqrts);
  at::_foreach_add_(denoms, h.eps);
  at::_foreach_addcdiv_(b.params, b.exp_avgs, denoms, neg_step_sizes);
}

void adamw_fused(const AdamWBatch& b, const AdamWHyper& h, const at::Tensor& grad_divisor, const at::Tensor& skip) {
#ifdef DISTILL_HAS_FUSED_ADAMW
  if (b.params.empty()) return;
  // The kernel reads each step count (float32 on the device) as t; torch increments it first.
  at::_foreach_add_(b.fused_steps, 1);
  const std::vector<at::Tensor> no_max_exp_avg_sqs;  // amsgrad off
  const c10::optional<at::Tensor> divisor = grad_divisor.defined() ? c10::optional<at::Tensor>(grad_divisor) : c10::nullopt;
  const c10::optional<at::Tensor> found_inf = skip.defined() ? c10::optional<at::Tensor>(skip) : c10::nullopt;
  at::_fused_adamw_(b.params, b.grads, b.exp_avgs, b.exp_avg_sqs, no_max_exp_avg_sqs, b.fused_steps, h.lr, h.beta1,
                    h.beta2, h.weight_decay, h.eps, /*amsgrad=*/false, /*maximize=*/false, divisor, found_inf);
  // A skipped update does not count: the counts go back by `skip` (as torch's GradScaler path does).
  if (skip.defined()) at::_foreach_sub_(b.fused_steps, std::vector<at::Tensor>(b.fused_steps.size(), skip));
#else
  (void)b;
  (void)h;
  (void)grad_divisor;
  (void)skip;
  throw std::logic_error("adamw_fused: this build has no at::_fused_adamw_ (needs LibTorch >= 2.1 with CUDA)");
#endif
}

}  // namespace detail
}  // namespace distill::train
