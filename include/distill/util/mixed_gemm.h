// Matrix products with bf16/fp16 inputs and an fp32 result written by the product itself (cuBLAS,
// fp32 accumulation), for gradients that are kept in fp32: the student's weight gradients under
// autocast, and the loss's head gradient summed over chunks. ATen's way is a bf16 product, then a
// cast (or an add into the fp32 sum) as a second pass over the result; this is one pass, and the
// sum is never rounded to bf16.
#pragma once

#include <ATen/core/Tensor.h>

namespace distill {

// c <- a @ b + beta * c. a (M, K), b (K, N): one dtype, bf16 or fp16, each with one unit stride
// (rows or columns: a transposed view is fine); c (M, N) fp32 with unit column stride. Returns
// false, and does nothing, when it does not apply: a build without CUDA, CPU tensors, other dtypes
// or layouts, DISTILL_MIXED_GEMM=0. The caller then uses ATen ops.
bool mm_into_fp32(const at::Tensor& c, const at::Tensor& a, const at::Tensor& b, float beta);

// a @ b as a new fp32 (M, N) tensor, or an undefined tensor where mm_into_fp32 does not apply.
at::Tensor mm_fp32(const at::Tensor& a, const at::Tensor& b);

// Whether the products above are on (a CUDA build, DISTILL_MIXED_GEMM not 0), and a switch for tests.
bool mixed_gemm_enabled();
void set_mixed_gemm(bool on);

}  // namespace distill
