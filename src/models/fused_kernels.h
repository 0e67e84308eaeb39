// Fused CUDA kernels for the elementwise work between a decoder layer's matmuls (fused_kernels.cu):
// RMSNorm, SiLU(gate) * up and the rotary embedding, forward and backward. Each replaces several
// ATen passes (an fp32 copy, a square, a mean, a product, a cast, ...) by one read and one write,
// and keeps transformers' arithmetic order, including where it rounds to bf16/fp16.
//
// Plain C++ (no LibTorch, no CUDA headers); the LibTorch side is fused_ops.cpp. Every launcher
// returns nullptr when the launch succeeded, else the CUDA error's text; none synchronises.
#pragma once

#include <cstdint>

namespace distill::models::kernels {

enum class ElemType : int { kFloat32 = 0, kBFloat16 = 1, kFloat16 = 2 };

// ---- RMSNorm: y = w * to_T(x * rsqrt(mean(x^2) + eps)), the mean and the product in fp32.
// Forward with `delta` set: the residual add before it as well, h = to_T(x + delta) written to `h`
// and normalised (one read of x and delta instead of the add's and then the norm's). delta is of
// delta_type: type, or (type fp32) bf16/fp16, converted to fp32 before the add as ATen promotes.
// With out_type bf16/fp16 (type fp32) y is written in out_type and gy read in it: the fp32 norm
// followed by autocast's cast for the product after it, and that cast's backward, in one.
// Backward of the fused add (x = h, the saved sum): with `gh` set the gradient reaching h from
// elsewhere is added, gx = to_T(gh + to_T(norm's gx)) (autograd's sum of the two); with `gdelta`
// set (delta_type other than type) gx is written there in delta_type as well (the add's backward
// for delta: the same gradient, cast), in the same pass.
struct RmsNormArgs {
  ElemType type = ElemType::kFloat32;      // of x, w, gx (and y, gy unless out_type differs)
  ElemType out_type = ElemType::kFloat32;  // of y and gy: type, or bf16/fp16 when type is fp32
  const void* x = nullptr;             // (rows, dim), row stride x_stride
  std::int64_t x_stride = 0;
  const void* w = nullptr;  // (dim)
  std::int64_t rows = 0, dim = 0;
  float eps = 0.f;
  void* y = nullptr;         // forward: (rows, dim) contiguous
  float* rstd = nullptr;     // forward: (rows) fp32, optional; backward: input
  const void* gy = nullptr;  // backward: (rows, dim) contiguous
  void* gx = nullptr;        // backward: (rows, dim) contiguous
  float* gw_partial = nullptr;  // backward: (rms_norm_partial_rows(), dim) fp32; summed by the caller
  const void* delta = nullptr;  // forward, optional: (rows, dim) contiguous, added to x
  void* h = nullptr;            // forward with delta: (rows, dim) contiguous, x + delta
  ElemType delta_type = ElemType::kFloat32;  // of delta and gdelta (read only when either is set)
  const void* gh = nullptr;  // backward, optional: (rows, dim) contiguous, type; added to gx
  void* gdelta = nullptr;    // backward, optional: (rows, dim) contiguous, delta_type; gx cast
};
const char* rms_norm_forward(const RmsNormArgs& a, void* stream);
const char* rms_norm_backward(const RmsNormArgs& a, void* stream);
// Rows of gw_partial that rms_norm_backward writes (one per block); 0 = dim too large for the kernel.
std::int64_t rms_norm_partial_rows(std::int64_t rows, std::int64_t dim);

// ---- h = to_T(silu(gate)) * up, both products rounded to T as ATen does.
struct SiluMulArgs {
  ElemType type = ElemType::kFloat32;
  const void* gate = nullptr;  // (n) contiguous
  const void* up = nullptr;    // (n) contiguous
  std::int64_t n = 0;
  void* h = nullptr;         // forward out
  const void* gh = nullptr;  // backward in
  void* g_gate = nullptr;    // backward out
  void* g_up = nullptr;      // backward out
};
const char* silu_mul_forward(const SiluMulArgs& a, void* stream);
const char* silu_mul_backward(const SiluMulArgs& a, void* stream);

// ---- Rotary embedding on (B, H, T, D) with any strides (last one 1), tables (Bc, T, D) contiguous
// (Bc 1 or B). out = x * cos + rotate_half(x) * sin, each product and the sum rounded to out_type
// unless in_fp32 (then all in fp32 and rounded once). out_type is type, or fp32 where fp32 tables
// promote a bf16/fp16 x (as ATen's type promotion does). Backward: the transpose.
struct RopeArgs {
  ElemType type = ElemType::kFloat32;        // of x (and of the gradient w.r.t. x)
  ElemType table_type = ElemType::kFloat32;  // of cos and sin
  ElemType out_type = ElemType::kFloat32;    // of the output's values (and of the gradient w.r.t. it)
  // An fp32 out_type from a bf16/fp16 x stored in x's type: the values rounded once to it, as a
  // consumer under autocast would cast them (and its gradient read in that type).
  bool store_in_x_type = false;
  bool in_fp32 = false;
  std::int64_t B = 0, H = 0, T = 0, D = 0;
  const void* x = nullptr;  // forward: x; backward: the gradient w.r.t. the output
  std::int64_t x_strides[4] = {0, 0, 0, 1};
  void* out = nullptr;  // forward: the output; backward: the gradient w.r.t. x
  std::int64_t out_strides[4] = {0, 0, 0, 1};
  const void* cos = nullptr;
  const void* sin = nullptr;
  std::int64_t table_batch_stride = 0;  // 0 when the tables are shared by the batch
};
const char* rope_forward(const RopeArgs& a, void* stream);
const char* rope_backward(const RopeArgs& a, void* stream);

}  // namespace distill::models::kernels
