// cuBLAS products with bf16/fp16 operands and an fp32 result (include/distill/util/mixed_gemm.h).
#include "distill/util/mixed_gemm.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string>

#include "distill/util/env_switch.h"
#include "distill/util/errors.h"
#include "distill/util/tuned_gemm.h"

#if DISTILL_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <cublas_v2.h>

#include "blas_operand.h"
#endif

namespace distill {
namespace {

#if DISTILL_WITH_CUDA
bool g_enabled = env_switch("DISTILL_MIXED_GEMM", true);
#else
bool g_enabled = false;
#endif

}  // namespace

bool mixed_gemm_enabled() { return g_enabled; }

void set_mixed_gemm(bool on) {
#if DISTILL_WITH_CUDA
  g_enabled = on;
#else
  (void)on;
#endif
}

#if DISTILL_WITH_CUDA

namespace {

using blas::Operand;
using blas::operand;

bool fits_int(std::int64_t v) { return v >= 0 && v <= std::numeric_limits<int>::max(); }

}  // namespace

bool mm_into_fp32(const at::Tensor& c, const at::Tensor& a, const at::Tensor& b, float beta) {
  if (!g_enabled || !a.defined() || !b.defined() || !c.defined()) return false;
  if (!a.is_cuda() || !b.is_cuda() || !c.is_cuda() || a.device() != b.device() || a.device() != c.device()) return false;
  const auto dtype = a.scalar_type();
  if ((dtype != at::kBFloat16 && dtype != at::kHalf) || b.scalar_type() != dtype || c.scalar_type() != at::kFloat) {
    return false;
  }
  if (a.dim() != 2 || b.dim() != 2 || c.dim() != 2) return false;
  const std::int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  if (b.size(0) != K || c.size(0) != M || c.size(1) != N) return false;
  if (M == 0 || N == 0) return true;
  if (K == 0) {
    if (beta == 0.0f) {
      c.zero_();
    } else if (beta != 1.0f) {
      c.mul_(beta);
    }
    return true;
  }
  Operand oa, ob;
  if (!operand(a, &oa) || !operand(b, &ob)) return false;
  if (c.stride(1) != 1 || (M > 1 && c.stride(0) < N)) return false;
  const std::int64_t ldc = std::max<std::int64_t>(c.stride(0), N);
  if (!fits_int(M) || !fits_int(N) || !fits_int(K) || !fits_int(oa.ld) || !fits_int(ob.ld) || !fits_int(ldc)) {
    return false;
  }
  // Large products through cuBLASLt's fastest algorithm for the shape (tuned_gemm.h), where it applies.
  if (tuned_mm_into(c, a, b, beta, {})) return true;
  const c10::cuda::CUDAGuard guard(a.device());
  cublasHandle_t handle = at::cuda::getCurrentCUDABlasHandle();  // on the current stream
  const float alpha = 1.0f;
  const cudaDataType_t type = dtype == at::kBFloat16 ? CUDA_R_16BF : CUDA_R_16F;
  // C^T (N, M) = B^T (N, K) A^T (K, M), in cuBLAS's column-major terms.
  const cublasStatus_t status =
      cublasGemmEx(handle, ob.op, oa.op, static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &alpha,
                   b.data_ptr(), type, static_cast<int>(ob.ld), a.data_ptr(), type, static_cast<int>(oa.ld), &beta,
                   c.data_ptr(), CUDA_R_32F, static_cast<int>(ldc), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw Error(ExitCode::kInternal, std::string("cuBLAS product with an fp32 result failed: ") +
                                         cublasGetStatusString(status));
  }
  return true;
}

#else

bool mm_into_fp32(const at::Tensor&, const at::Tensor&, const at::Tensor&, float) { return false; }

#endif

at::Tensor mm_fp32(const at::Tensor& a, const at::Tensor& b) {
  if (!g_enabled || !a.defined() || !b.defined() || a.dim() != 2 || b.dim() != 2) return {};
  at::Tensor c = at::empty({a.size(0), b.size(1)}, a.options().dtype(at::kFloat));
  if (!mm_into_fp32(c, a, b, 0.0f)) return {};
  return c;
}

}  // namespace distill
