// The fused CUDA kernels of fused_kernels.h as LibTorch ops with autograd (fused_ops.cpp). Each
// returns an undefined tensor when it does not apply (a CPU tensor, a build without CUDA, the
// kernels switched off, dtypes or layouts the kernel does not take); the caller then runs the
// unfused ATen code, which stays the reference.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <utility>

namespace distill::models::fused {

// transformers' RMSNorm: weight * to_dtype(x * rsqrt(mean(x^2) + eps)); x (..., dim), weight (dim),
// same dtype.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// rms_norm of an fp32 x and weight written in `out` (bf16 or fp16): the values of rms_norm followed
// by a cast to `out` (the cast autocast puts before the product the norm feeds), and in backward a
// gradient of type `out` read as it is (the cast's backward) instead of the two extra passes.
// DISTILL_NORM_TO_AUTOCAST=0 turns it off.
at::Tensor rms_norm_to(const at::Tensor& x, const at::Tensor& weight, double eps, at::ScalarType out);
// For tests and A/Bs: DISTILL_NORM_TO_AUTOCAST's switch, and its value.
void set_rms_norm_to(bool on);
bool rms_norm_to_on();

// h = x + delta and rms_norm(h, weight, eps) from one kernel: (h, y) with ATen's values for the add
// and the norm, where the unfused pair reads h twice. x and delta (..., dim) contiguous, one shape,
// delta of x's dtype or (x fp32) bf16/fp16, added as ATen promotes it (converted to fp32); weight
// (dim), x's dtype. Outside autograd (the teacher's forward) DISTILL_FUSED_ADD_NORM=0 turns it off;
// where autograd records it (the student's training forward: an autograd Function whose backward
// is one kernel too, the gradient reaching h added to the norm's and cast to delta's dtype in the
// same pass) DISTILL_FUSED_ADD_NORM_TRAIN=0 as well.
std::pair<at::Tensor, at::Tensor> add_rms_norm(const at::Tensor& x, const at::Tensor& delta, const at::Tensor& weight,
                                               double eps);
// The same with y written in `y_dtype`: x's, or (x fp32) bf16/fp16, the values of rms_norm_to
// (the fp32 norm rounded once, as autocast's cast before the product it feeds).
std::pair<at::Tensor, at::Tensor> add_rms_norm_to(const at::Tensor& x, const at::Tensor& delta,
                                                  const at::Tensor& weight, double eps, at::ScalarType y_dtype);
// For tests and A/Bs: DISTILL_FUSED_ADD_NORM's switch, and its value; DISTILL_FUSED_ADD_NORM_TRAIN's
// (the autograd variant, and the training forward's deferred residual adds, causal_lm.cpp).
void set_add_rms_norm(bool on);
bool add_rms_norm_on();
void set_add_rms_norm_train(bool on);
bool add_rms_norm_train_on();

// silu(gate) * up, same shape and dtype.
at::Tensor silu_mul(const at::Tensor& gate, const at::Tensor& up);

// down(silu(gate) * up) for a training forward (some input needs grad): the same values as
// at::linear(silu_mul(gate, up), weight, bias) under the same autocast, but backward recomputes the
// (..., I) product from gate and up instead of keeping it for the weight's gradient (selective
// activation recomputation: one elementwise pass in backward for I values per token less memory).
// weight (C, I), bias (C) or undefined; weight's dtype is gate's, or autocast casts it to gate's.
at::Tensor silu_mul_linear(const at::Tensor& gate, const at::Tensor& up, const at::Tensor& weight,
                           const at::Tensor& bias);

// x (B, H, T, D) rotated by cos/sin (Bc, T, D), Bc 1 or B: x * cos + rotate_half(x) * sin.
// store_to: a caller that would cast the result to x's type anyway (attention under autocast) may
// pass x's type: where fp32 tables promote a bf16/fp16 x, the fp32 values are then stored rounded to
// x's type by the kernel (the same values as the cast; the gradient comes back in that type).
// DISTILL_ROPE_TO_AUTOCAST=0 keeps fp32.
at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, bool in_fp32,
                at::ScalarType store_to = at::ScalarType::Undefined);
// For tests and A/Bs: DISTILL_ROPE_TO_AUTOCAST's switch.
void set_rope_to(bool on);

}  // namespace distill::models::fused
