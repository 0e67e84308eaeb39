// The three ways of applying one AdamW update to a batch of tensors (same device, dtype and decay).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace distill::train::detail {

struct AdamWHyper {
  double lr = 0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;  // already 0 for exempt batches
};

struct AdamWBatch {
  std::vector<at::Tensor> params, grads, exp_avgs, exp_avg_sqs;
  std::vector<std::int64_t> steps;         // each tensor's step count including this update (>= 1)
  std::vector<at::Tensor> fused_steps;     // kFused only: float32 scalars holding steps - 1
  std::vector<std::size_t> slots;          // the optimizer's index of each tensor
};

// p *= 1 - lr*wd; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
void adamw_loop(const AdamWBatch& batch, const AdamWHyper& h);
void adamw_foreach(const AdamWBatch& batch, const AdamWHyper& h);
// Increments fused_steps, then one at::_fused_adamw_ call; grad_divisor (undefined, or a 0-dim fp32
// tensor on the batch's device) divides every gradient first, inside the kernel, which writes the
// divided gradient back. Only where fused_adamw_built().
// skip: undefined, or a float32 0-dim device tensor; 1 leaves everything as it was (torch's found_inf).
void adamw_fused(const AdamWBatch& batch, const AdamWHyper& h, const at::Tensor& grad_divisor = at::Tensor(),
                 const at::Tensor& skip = at::Tensor());
// The same update by distill's kernel (adamw_shadow.cu), which also writes `copies` (bf16, one per
// param; an undefined entry: none). fp32 CUDA tensors; returns false, doing nothing, where the build
// has no CUDA.
bool adamw_fused_copies(const AdamWBatch& batch, const std::vector<at::Tensor>& copies, const AdamWHyper& h,
                        const at::Tensor& grad_divisor = at::Tensor(), const at::Tensor& skip = at::Tensor());

}  // namespace distill::train::detail
