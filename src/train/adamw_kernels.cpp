// AdamW update paths: per-tensor loop (reference), foreach multi-tensor ops, fused CUDA kernel.
#include "adamw_kernels.h"

#include <ATen/ops/_foreach_add.h>
#include <ATen/ops/_foreach_addcdiv.h>
#include <ATen/ops/_foreach_addcmul.h>
#include <ATen/ops/_foreach_div.h>
#include <ATen/ops/_foreach_mul.h>
#include <ATen/ops/_foreach_sqrt.h>
#include <ATen/ops/_foreach_sub.h>
#include <ATen/ops/empty.h>
#include <torch/version.h>

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#ifdef DISTILL_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "adamw_shadow.h"
#endif

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

bool adamw_fused_copies(const AdamWBatch& b, const std::vector<at::Tensor>& copies, const AdamWHyper& h,
                        const at::Tensor& grad_divisor, const at::Tensor& skip) {
#ifdef DISTILL_WITH_CUDA
  if (b.params.empty()) return true;
  const at::Device device = b.params.front().device();
  // The kernel reads each step count as t; raised first, put back after a skip, as adamw_fused does.
  at::_foreach_add_(b.fused_steps, 1);
  // The tensor table: pointers of this step's gradients, so built every step (a few KB).
  const std::int64_t block_elems = kernels::adamw_shadow_block_elems();
  std::vector<kernels::AdamWTensor> table(b.params.size());
  std::int64_t blocks = 0;
  for (std::size_t i = 0; i < b.params.size(); ++i) {
    kernels::AdamWTensor& t = table[i];
    t.param = b.params[i].data_ptr<float>();
    t.grad = b.grads[i].data_ptr<float>();
    t.exp_avg = b.exp_avgs[i].data_ptr<float>();
    t.exp_avg_sq = b.exp_avg_sqs[i].data_ptr<float>();
    t.shadow = copies[i].defined() ? copies[i].data_ptr() : nullptr;
    t.step = b.fused_steps[i].data_ptr<float>();
    t.numel = b.params[i].numel();
    t.weight_decay = static_cast<float>(h.weight_decay);
    t.first_block = blocks;
    blocks += (t.numel + block_elems - 1) / block_elems;
  }
  const auto bytes = static_cast<std::int64_t>(table.size() * sizeof(kernels::AdamWTensor));
  at::Tensor host = at::empty({bytes}, at::TensorOptions().dtype(at::kByte).pinned_memory(true));
  std::memcpy(host.data_ptr(), table.data(), static_cast<std::size_t>(bytes));
  const at::Tensor on_device = host.to(device, /*non_blocking=*/true);
  kernels::AdamWShadowArgs a;
  a.tensors = static_cast<const kernels::AdamWTensor*>(on_device.data_ptr());
  a.count = static_cast<int>(table.size());
  a.blocks = blocks;
  a.lr = static_cast<float>(h.lr);
  a.beta1 = static_cast<float>(h.beta1);
  a.beta2 = static_cast<float>(h.beta2);
  a.eps = static_cast<float>(h.eps);
  const at::Tensor divisor = grad_divisor.defined() ? grad_divisor.to(device, at::kFloat).contiguous() : at::Tensor();
  const at::Tensor skip_flag = skip.defined() ? skip.to(device, at::kFloat).contiguous() : at::Tensor();
  a.grad_divisor = divisor.defined() ? divisor.data_ptr<float>() : nullptr;
  a.skip = skip_flag.defined() ? skip_flag.data_ptr<float>() : nullptr;
  const c10::cuda::CUDAGuard guard(device);
  if (const char* error = kernels::launch_adamw_shadow(a, c10::cuda::getCurrentCUDAStream(device.index()).stream())) {
    throw std::runtime_error(std::string("AdamW kernel: ") + error);
  }
  // The kernel wrote the parameters behind autograd's back: their versions move, as an in-place op's would.
  for (const at::Tensor& p : b.params) p.unsafeGetTensorImpl()->bump_version();
  if (skip.defined()) at::_foreach_sub_(b.fused_steps, std::vector<at::Tensor>(b.fused_steps.size(), skip_flag));
  return true;
#else
  (void)b;
  (void)copies;
  (void)h;
  (void)grad_divisor;
  (void)skip;
  return false;
#endif
}

}  // namespace detail
}  // namespace distill::train
