// AdamW with a bf16 copy of each updated parameter, one launch for many tensors (adamw_shadow.h).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "adamw_shadow.h"

namespace distill::train::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kVec = 4;      // float4 accesses
constexpr int kUnroll = 4;   // float4s per thread per block
constexpr std::int64_t kBlockElems = static_cast<std::int64_t>(kThreads) * kVec * kUnroll;

struct Scalars {
  float lr, beta1, beta2, eps, wd, step_size, bc2_sqrt, divisor;
  bool has_divisor;
};

__device__ __forceinline__ float update(float& p, float g, float& m, float& v, const Scalars& s) {
  if (s.has_divisor) g = g / s.divisor;
  if (s.wd != 0.f) p -= s.lr * s.wd * p;
  m = s.beta1 * m + (1.f - s.beta1) * g;
  v = s.beta2 * v + (1.f - s.beta2) * g * g;
  const float denom = sqrtf(v) / s.bc2_sqrt + s.eps;
  p -= s.step_size * m / denom;
  return p;
}

__global__ void __launch_bounds__(kThreads) adamw_shadow_kernel(AdamWShadowArgs a) {
  if (a.skip != nullptr && *a.skip == 1.f) return;
  // The tensor of this block: the last one whose first block is not after it.
  const std::int64_t block = blockIdx.x;
  int lo = 0, hi = a.count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (a.tensors[mid].first_block <= block) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  const AdamWTensor t = a.tensors[lo];
  const std::int64_t begin = (block - t.first_block) * kBlockElems;
  const std::int64_t end = begin + kBlockElems < t.numel ? begin + kBlockElems : t.numel;

  Scalars s;
  const float step = *t.step;
  s.lr = a.lr;
  s.beta1 = a.beta1;
  s.beta2 = a.beta2;
  s.eps = a.eps;
  s.wd = t.weight_decay;
  s.step_size = a.lr / (1.f - powf(a.beta1, step));
  s.bc2_sqrt = sqrtf(1.f - powf(a.beta2, step));
  s.has_divisor = a.grad_divisor != nullptr;
  s.divisor = s.has_divisor ? *a.grad_divisor : 1.f;
  __nv_bfloat16* shadow = static_cast<__nv_bfloat16*>(t.shadow);

  const bool vec = ((reinterpret_cast<std::uintptr_t>(t.param) | reinterpret_cast<std::uintptr_t>(t.grad) |
                     reinterpret_cast<std::uintptr_t>(t.exp_avg) | reinterpret_cast<std::uintptr_t>(t.exp_avg_sq)) %
                        16 == 0) &&
                   (shadow == nullptr || reinterpret_cast<std::uintptr_t>(shadow) % 8 == 0);
  // Whole float4s first where the tensors allow; the rest (a tensor's last numel % 4 elements, or
  // all of an unaligned tensor's) one at a time below.
  std::int64_t scalar_begin = begin;
  if (vec) {
    scalar_begin = begin + (end - begin) / kVec * kVec;
    for (std::int64_t i = begin + static_cast<std::int64_t>(threadIdx.x) * kVec; i < scalar_begin;
         i += kThreads * kVec) {
      float4 p = *reinterpret_cast<const float4*>(t.param + i);
      const float4 g = *reinterpret_cast<const float4*>(t.grad + i);
      float4 m = *reinterpret_cast<const float4*>(t.exp_avg + i);
      float4 v = *reinterpret_cast<const float4*>(t.exp_avg_sq + i);
      update(p.x, g.x, m.x, v.x, s);
      update(p.y, g.y, m.y, v.y, s);
      update(p.z, g.z, m.z, v.z, s);
      update(p.w, g.w, m.w, v.w, s);
      *reinterpret_cast<float4*>(t.param + i) = p;
      *reinterpret_cast<float4*>(t.exp_avg + i) = m;
      *reinterpret_cast<float4*>(t.exp_avg_sq + i) = v;
      if (shadow != nullptr) {
        __nv_bfloat162 lo2 = __floats2bfloat162_rn(p.x, p.y), hi2 = __floats2bfloat162_rn(p.z, p.w);
        uint2 packed;
        packed.x = *reinterpret_cast<unsigned*>(&lo2);
        packed.y = *reinterpret_cast<unsigned*>(&hi2);
        *reinterpret_cast<uint2*>(shadow + i) = packed;
      }
    }
  }
  for (std::int64_t i = scalar_begin + threadIdx.x; i < end; i += kThreads) {
    float p = t.param[i], m = t.exp_avg[i], v = t.exp_avg_sq[i];
    update(p, t.grad[i], m, v, s);
    t.param[i] = p;
    t.exp_avg[i] = m;
    t.exp_avg_sq[i] = v;
    if (shadow != nullptr) shadow[i] = __float2bfloat16_rn(p);
  }
}

}  // namespace

std::int64_t adamw_shadow_block_elems() { return kBlockElems; }

const char* launch_adamw_shadow(const AdamWShadowArgs& args, void* stream) {
  if (args.count <= 0 || args.blocks <= 0) return nullptr;
  if (args.blocks > 0x7fffffffLL) return "adamw_shadow: more blocks than one launch's grid holds";
  adamw_shadow_kernel<<<static_cast<unsigned>(args.blocks), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(args);
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

}  // namespace distill::train::kernels
