// Large bf16/fp16 matrix products through cuBLASLt with, for each shape, the fastest of the
// algorithms cuBLASLt's heuristic offers, timed on the real operands: the teacher's forward, the
// loss's head products, and the student's products forward and backward (fp32 results included:
// mixed_gemm.h goes through tuned_mm_into first).
// ATen takes the heuristic's first choice; for some of the teacher's products another one is faster
// on the H200 (a Qwen2.5-7B layer's gate and up, 8192 x 18944 x 3584: 1.50 against 1.59 ms,
// scripts/experiments/gemm_algos.cu). A shape is tuned at its second product (its first runs
// through ATen), so shapes seen once, like prompts of many lengths, cost no timing; at most 256
// shapes are tuned per process. The choice is kept per (shape, layouts, dtypes, bias) for the rest
// of the process; another process may choose another algorithm, whose result may differ in the
// last bits (the accumulation order), never more. DISTILL_TUNED_GEMM=0 turns it off.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace distill {

// x W^T + b without autograd: x (..., K), weight (N, K) with unit column stride, bias (N) or
// undefined, all one dtype (bf16 or fp16) on one CUDA device, with neither grad mode on and a tensor
// requiring a gradient, nor CUDA autocast to another dtype. Returns (..., N) in that dtype, or an
// undefined tensor when it does not apply (any of the above, a product below the size threshold, a
// shape's first product, a build without CUDA, a stream being captured into a CUDA graph before the
// shape was tuned, a shape cuBLASLt offered no working algorithm for (warned once), or the switch
// off); the caller then runs at::linear.
at::Tensor tuned_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

// tuned_linear where it applies, else at::linear (bias may be undefined).
at::Tensor linear_tuned_or_aten(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

// c (M, N) = a (M, K) b (K, N) (+ bias (N)) (+ beta c), tuned the same way, for any layout of a and
// b with one unit stride (transposed views included): a and b bf16 or fp16 (one dtype), c that
// dtype or fp32 (summed in fp32, rounded once to c's type), beta 0 or where c holds a sum to add to
// (a bias only with beta 0 and c in the operands' dtype). The same conditions as tuned_linear
// otherwise (grad mode, size, first product of a shape, ...). Returns false where it does not apply;
// the caller then runs its own product (c untouched).
bool tuned_mm_into(const at::Tensor& c, const at::Tensor& a, const at::Tensor& b, float beta, const at::Tensor& bias);
// a b as a new tensor of a's dtype, or an undefined tensor where tuned_mm_into does not apply.
at::Tensor tuned_mm(const at::Tensor& a, const at::Tensor& b);
// tuned_mm where it applies, else at::mm.
at::Tensor mm_tuned_or_aten(const at::Tensor& a, const at::Tensor& b);

// Whether the tuned products are on (a CUDA build, DISTILL_TUNED_GEMM not 0), and switches for tests:
// on/off, and the smallest product (2 M N K floating-point operations) that is tuned; smaller ones
// are left to ATen, whose choice is as good where timing could not tell the candidates apart.
bool tuned_gemm_enabled();
void set_tuned_gemm(bool on);
void set_tuned_gemm_min_flops(double flops);
double tuned_gemm_min_flops();
// For tests: the product of a shape at which it is tuned (default 2; 1 tunes at the first).
void set_tuned_gemm_min_uses(int uses);

// For tests: how many shapes have been tuned and how many products run in this process, and the
// heuristic's index of the algorithm chosen for the last shape tuned (0: the heuristic's first).
std::int64_t tuned_gemm_shapes();
std::int64_t tuned_gemm_products();
int tuned_gemm_last_choice();

}  // namespace distill
