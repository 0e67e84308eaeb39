// AdamW that also writes a bf16 copy of each parameter it updates (adamw_shadow.cu): the copy the
// next step's products read instead of casting the fp32 weight again (util/weight_shadow.h).
//
// One launch for a list of fp32 tensors, each with its gradient, moments, step count (float32 on
// the device, already raised for this step, as _fused_adamw_ reads it) and an optional bf16 copy.
// The update is _fused_adamw_'s (torch's ADAMW mode), element by element in fp32:
//   g = grad / divisor;  p -= lr*wd*p;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps);  copy = bf16(p)
// Unlike _fused_adamw_ it does not write the divided gradient back (nothing reads it): 4 bytes an
// element less, and 2 more for the copy.
//
// Plain C++ (no LibTorch, no CUDA headers). The launcher returns nullptr when the launch
// succeeded, else the CUDA error's text; it never synchronises.
#pragma once

#include <cstdint>

namespace distill::train::kernels {

struct AdamWTensor {
  float* param = nullptr;
  const float* grad = nullptr;
  float* exp_avg = nullptr;
  float* exp_avg_sq = nullptr;
  void* shadow = nullptr;       // bf16, like param; nullptr: none
  const float* step = nullptr;  // this update's t (>= 1)
  std::int64_t numel = 0;
  float weight_decay = 0.f;     // 0 for exempt tensors
  std::int64_t first_block = 0;  // the launch's blocks [first_block, next tensor's) update this tensor
};

struct AdamWShadowArgs {
  const AdamWTensor* tensors = nullptr;  // device memory, `count` entries, first_block ascending
  int count = 0;
  std::int64_t blocks = 0;  // total: the last tensor's first_block + its blocks
  float lr = 0.f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  const float* grad_divisor = nullptr;  // device scalar, optional: every gradient divided by it
  const float* skip = nullptr;          // device scalar, optional: 1 = change nothing (found_inf)
};

// Elements one block updates; a tensor of n elements takes ceil(n / adamw_shadow_block_elems()) blocks.
std::int64_t adamw_shadow_block_elems();
const char* launch_adamw_shadow(const AdamWShadowArgs& args, void* stream);

}  // namespace distill::train::kernels
