// How a 2-D tensor enters a column-major cuBLAS/cuBLASLt product (mixed_gemm.cpp, tuned_gemm.cpp).
#pragma once

#include <ATen/core/Tensor.h>
#include <cublas_v2.h>

#include <algorithm>
#include <cstdint>

namespace distill::blas {

// cuBLAS is column-major: the row-major product C = A B is computed as C^T = B^T A^T, and a
// row-major (R, C) matrix with unit column stride is, to cuBLAS, its transpose with leading
// dimension = its row stride. So an operand with unit column stride goes in untransposed (its
// memory already holds the transpose cuBLAS wants), one with unit row stride goes in transposed.
struct Operand {
  cublasOperation_t op = CUBLAS_OP_N;
  std::int64_t ld = 0;
};

// False where neither stride is 1 (the caller copies, or takes another path).
inline bool operand(const at::Tensor& t, Operand* out) {
  const std::int64_t rows = t.size(0), cols = t.size(1);
  if (t.stride(1) == 1 && (rows <= 1 || t.stride(0) >= cols)) {
    *out = {CUBLAS_OP_N, std::max<std::int64_t>(t.stride(0), std::max<std::int64_t>(cols, 1))};
    return true;
  }
  if (t.stride(0) == 1 && (cols <= 1 || t.stride(1) >= rows)) {
    *out = {CUBLAS_OP_T, std::max<std::int64_t>(t.stride(1), std::max<std::int64_t>(rows, 1))};
    return true;
  }
  return false;
}

}  // namespace distill::blas
