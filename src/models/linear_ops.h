// Linear layers whose gradients are written by the products themselves (linear_ops.cpp). Each op
// returns undefined tensors when it does not apply; the caller then runs at::linear, which stays
// the reference.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <initializer_list>
#include <utility>

namespace distill::models::fused {

// x W^T + b for a training forward under CUDA autocast with an fp32 weight (and bias) that needs a
// gradient: autocast's values, with the weight's gradient (and an fp32 x's) written in fp32 by the
// products (distill/util/mixed_gemm.h) instead of cast back from bf16. DISTILL_MIXED_GEMM=0 turns
// it off.
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

// A gated MLP's gate and up products from its one [2I, C] weight (and [2I] bias), for a training
// forward: (x Wg^T + bg, x Wu^T + bu), each contiguous. What at::linear on the two row blocks gives,
// but backward writes the weight's (and bias's) gradient as one [2I, C] tensor and sums the input's
// two gradients by the products, instead of a zero-filled [2I, C] tensor per block and their sum.
// Applies without autocast when x, weight and bias share a dtype (the same arithmetic as at::linear),
// and under CUDA autocast with fp32 weights as `linear` above. DISTILL_GATE_UP=0 turns it off on
// CUDA (the two at::linear calls on the row blocks then run).
std::pair<at::Tensor, at::Tensor> gate_up(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

// gy^T x, (C, N) x (N, I), as a `dtype` tensor: for an fp32 result from bf16/fp16 operands, written
// in fp32 by the product (mixed_gemm.h) where it applies, else the product cast.
at::Tensor weight_grad(const at::Tensor& gy, const at::Tensor& x, at::ScalarType dtype);

// Whether autograd will want a gradient of any of these (grad mode on, one of them requires it):
// when the fused ops' autograd Functions, rather than their forward-only paths, apply.
bool needs_grad(std::initializer_list<at::Tensor> ts);

// For tests: DISTILL_GATE_UP's switch, and its value.
void set_gate_up_on_cuda(bool on);
bool gate_up_on_cuda();

}  // namespace distill::models::fused
