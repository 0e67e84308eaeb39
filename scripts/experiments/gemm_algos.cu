// Experiment (issue #8): how fast could the teacher's products run with another cuBLASLt algorithm
// than the one cuBLAS's heuristic picks? For each product shape of a Qwen2.5-7B teacher layer at
// 8192 tokens (and its LM head per loss chunk), times cublasGemmEx (what ATen calls) and every
// algorithm cublasLtMatmulAlgoGetHeuristic offers, on random bf16 data, and prints TFLOP/s.
//
//   nvcc -std=c++17 -O2 -arch=sm_90 scripts/experiments/gemm_algos.cu -lcublasLt -lcublas -o /tmp/gemm_algos
//   /tmp/gemm_algos [reps] [student | student_bwd]
// With `student`, the forward products of a Qwen2.5-0.5B student at 8192 tokens instead (and its
// tied head per 1024-token loss chunk); with `student_bwd`, also its backward products as
// distill runs them (bf16 operands, fp32 results through cublasGemmEx) against cuBLASLt's candidates.
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#define CK(x)                                                                          \
  do {                                                                                 \
    auto e_ = (x);                                                                     \
    if (e_ != 0) {                                                                     \
      std::fprintf(stderr, "%s:%d: %s failed (%d)\n", __FILE__, __LINE__, #x, (int)e_); \
      std::exit(1);                                                                    \
    }                                                                                  \
  } while (0)

__global__ void fill(__nv_bfloat16* p, size_t n, unsigned seed) {
  for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    unsigned x = (unsigned)i * 2654435761u ^ seed;
    x ^= x >> 13;
    x *= 0x5bd1e995u;
    x ^= x >> 15;
    p[i] = __float2bfloat16(((x & 0xffff) / 65536.0f - 0.5f) * 0.1f);
  }
}

// Mean milliseconds of `reps` launches after 3 warm-up ones, by CUDA events on `stream`.
template <typename Launch>
float mean_ms(int reps, cudaStream_t stream, cudaEvent_t e0, cudaEvent_t e1, Launch&& launch) {
  for (int i = 0; i < 3; ++i) launch();
  CK(cudaEventRecord(e0, stream));
  for (int i = 0; i < reps; ++i) launch();
  CK(cudaEventRecord(e1, stream));
  CK(cudaEventSynchronize(e1));
  float ms = 0;
  CK(cudaEventElapsedTime(&ms, e0, e1));
  return ms / reps;
}

// cuBLASLt's heuristic candidates (up to 32) for a product, within the workspace.
int candidates(cublasLtHandle_t lt, cublasLtMatmulDesc_t op, cublasLtMatrixLayout_t la, cublasLtMatrixLayout_t lb,
               cublasLtMatrixLayout_t lc, size_t ws_size, cublasLtMatmulHeuristicResult_t* res) {
  cublasLtMatmulPreference_t pref;
  CK(cublasLtMatmulPreferenceCreate(&pref));
  CK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_size, sizeof(ws_size)));
  int found = 0;
  CK(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, 32, res, &found));
  cublasLtMatmulPreferenceDestroy(pref);
  return found;
}

struct Shape {
  const char* name;
  int m, n, k;  // row-major y[m, n] = x[m, k] . w[n, k]^T
};

// The student's backward products as distill's mixed_gemm.cpp runs them (cublasGemmEx, bf16
// operands, fp32 result): in column-major terms C (m x n, ld m) = op(A) op(B) (+ beta C).
struct BwdShape {
  const char* name;
  int m, n, k;
  bool ta, tb;  // op(A) = A^T (A stored k x m) / op(B) = B^T (B stored n x k)
  float beta;
};

void backward_products(int reps, cublasHandle_t h, cublasLtHandle_t lt, cudaStream_t stream, void* ws,
                       size_t ws_size, cudaEvent_t e0, cudaEvent_t e1) {
  // Qwen2.5-0.5B at 8192 tokens. dgrad: gx (8192, in) = gy (8192, out) W (out, in): C^T = W^T-as-(in x out) gy^T.
  // wgrad: gw (out, in) = gy^T x: C^T (in x out) = x^T (in x 8192) gy (8192 x out).
  const BwdShape shapes[] = {
      {"dgrad qkv in896 out1152", 896, 8192, 1152, false, false, 0.f},
      {"wgrad qkv", 896, 1152, 8192, false, true, 0.f},
      {"dgrad o", 896, 8192, 896, false, false, 0.f},
      {"wgrad o", 896, 896, 8192, false, true, 0.f},
      {"dgrad gate (+up, beta 1)", 896, 8192, 4864, false, false, 1.f},
      {"wgrad gate", 896, 4864, 8192, false, true, 0.f},
      {"dgrad down in4864", 4864, 8192, 896, false, false, 0.f},
      {"wgrad down", 4864, 896, 8192, false, true, 0.f},
      {"head dgrad 1024", 896, 1024, 151936, false, false, 0.f},
      {"head wgrad 1024 beta1", 896, 151936, 1024, false, true, 1.f},
      {"head wgrad 2048 beta1", 896, 151936, 2048, false, true, 1.f},
  };
  size_t max_a = 0, max_b = 0, max_c = 0;
  for (const BwdShape& s : shapes) {
    max_a = std::max(max_a, (size_t)s.m * s.k);
    max_b = std::max(max_b, (size_t)s.n * s.k);
    max_c = std::max(max_c, (size_t)s.m * s.n);
  }
  __nv_bfloat16 *a, *b;
  float* c;
  CK(cudaMalloc(&a, max_a * 2));
  CK(cudaMalloc(&b, max_b * 2));
  CK(cudaMalloc(&c, max_c * 4));
  fill<<<1024, 256>>>(a, max_a, 3);
  fill<<<1024, 256>>>(b, max_b, 4);
  CK(cudaMemset(c, 0, max_c * 4));
  const float alpha = 1.f;
  auto time_it = [&](auto&& launch) { return mean_ms(reps, stream, e0, e1, launch); };
  for (const BwdShape& s : shapes) {
    const double flop = 2.0 * s.m * s.n * s.k;
    const cublasOperation_t oa = s.ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = s.tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    const int lda = s.ta ? s.k : s.m, ldb = s.tb ? s.n : s.k;
    const float beta = s.beta;
    auto gemmex = [&] {
      CK(cublasGemmEx(h, oa, ob, s.m, s.n, s.k, &alpha, a, CUDA_R_16BF, lda, b, CUDA_R_16BF, ldb, &beta, c, CUDA_R_32F,
                      s.m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    };
    const float base = time_it(gemmex);
    cublasLtMatmulDesc_t op;
    CK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &oa, sizeof(oa)));
    CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &ob, sizeof(ob)));
    cublasLtMatrixLayout_t la, lb, lc;
    CK(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, s.ta ? s.k : s.m, s.ta ? s.m : s.k, lda));
    CK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, s.tb ? s.n : s.k, s.tb ? s.k : s.n, ldb));
    CK(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, s.m, s.n, s.m));
    cublasLtMatmulHeuristicResult_t res[32];
    const int found = candidates(lt, op, la, lb, lc, ws_size, res);
    float best = 1e9, first = 0;
    int best_i = -1;
    for (int i = 0; i < found; ++i) {
      if (res[i].state != CUBLAS_STATUS_SUCCESS) continue;
      const float ms = time_it([&] {
        CK(cublasLtMatmul(lt, op, &alpha, a, la, b, lb, &beta, c, lc, c, lc, &res[i].algo, ws, ws_size, stream));
      });
      if (i == 0) first = ms;
      if (ms < best) best = ms, best_i = i;
    }
    const float base2 = time_it(gemmex);
    std::printf("%-26s SUMMARY gemmex %.3f/%.3f ms (%.0f TFLOP/s), lt first %.3f, best lt #%d of %d %.3f ms: %.1f%% "
                "faster\n",
                s.name, base, base2, flop / std::min(base, base2) / 1e9, first, best_i, found, best,
                (std::min(base, base2) / best - 1) * 100);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(op);
  }
  cudaFree(a);
  cudaFree(b);
  cudaFree(c);
}

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 20;
  const bool student = argc > 2 && std::string(argv[2]).rfind("student", 0) == 0;
  const std::vector<Shape> teacher_shapes = {
      {"qkv 8192x4608x3584", 8192, 4608, 3584},     {"o 8192x3584x3584", 8192, 3584, 3584},
      {"gate 8192x18944x3584", 8192, 18944, 3584},  {"gate_up 8192x37888x3584", 8192, 37888, 3584},
      {"down 8192x3584x18944", 8192, 3584, 18944},  {"head 1024x152064x3584", 1024, 152064, 3584},
      {"head 2048x152064x3584", 2048, 152064, 3584}, {"head 4096x152064x3584", 4096, 152064, 3584},
  };
  const std::vector<Shape> student_shapes = {
      {"s.qkv 8192x1152x896", 8192, 1152, 896},   {"s.o 8192x896x896", 8192, 896, 896},
      {"s.gate 8192x4864x896", 8192, 4864, 896},  {"s.down 8192x896x4864", 8192, 896, 4864},
      {"s.head 1024x151936x896", 1024, 151936, 896},
  };
  const std::vector<Shape>& shapes = student ? student_shapes : teacher_shapes;
  size_t max_a = 0, max_b = 0, max_c = 0;
  for (const Shape& s : shapes) {
    max_a = std::max(max_a, (size_t)s.m * s.k);
    max_b = std::max(max_b, (size_t)s.n * s.k);
    max_c = std::max(max_c, (size_t)s.m * s.n);
  }
  __nv_bfloat16 *x, *w, *y;
  CK(cudaMalloc(&x, max_a * 2));
  CK(cudaMalloc(&w, max_b * 2));
  CK(cudaMalloc(&y, max_c * 2));
  fill<<<1024, 256>>>(x, max_a, 1);
  fill<<<1024, 256>>>(w, max_b, 2);
  const size_t ws_size = 64u << 20;
  void* ws;
  CK(cudaMalloc(&ws, ws_size));
  cublasHandle_t h;
  CK(cublasCreate(&h));
  cublasLtHandle_t lt;
  CK(cublasLtCreate(&lt));
  cudaStream_t stream;
  CK(cudaStreamCreate(&stream));
  CK(cublasSetStream(h, stream));
  CK(cublasSetWorkspace(h, ws, ws_size));
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  const float alpha = 1.f, beta = 0.f;

  auto time_it = [&](auto&& launch) { return mean_ms(reps, stream, e0, e1, launch); };

  for (const Shape& s : shapes) {
    const double flop = 2.0 * s.m * s.n * s.k;
    // Column-major: C (n x m) = W^T-as-stored (op T on the k x n buffer) times X (k x m).
    const float base = time_it([&] {
      CK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, s.n, s.m, s.k, &alpha, w, CUDA_R_16BF, s.k, x, CUDA_R_16BF, s.k,
                      &beta, y, CUDA_R_16BF, s.n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    });
    std::printf("%-26s cublasGemmEx      %8.3f ms %6.1f TFLOP/s\n", s.name, base, flop / base / 1e9);

    cublasLtMatmulDesc_t op;
    CK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    CK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    cublasLtMatrixLayout_t la, lb, lc;
    CK(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, s.k, s.n, s.k));
    CK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, s.k, s.m, s.k));
    CK(cublasLtMatrixLayoutCreate(&lc, CUDA_R_16BF, s.n, s.m, s.n));
    cublasLtMatmulHeuristicResult_t res[32];
    const int found = candidates(lt, op, la, lb, lc, ws_size, res);
    float best = 1e9;
    int best_i = -1;
    for (int i = 0; i < found; ++i) {
      if (res[i].state != CUBLAS_STATUS_SUCCESS) continue;
      const float ms = time_it([&] {
        CK(cublasLtMatmul(lt, op, &alpha, w, la, x, lb, &beta, y, lc, y, lc, &res[i].algo, ws, ws_size, stream));
      });
      std::printf("%-26s lt heuristic #%-2d %8.3f ms %6.1f TFLOP/s (workspace %zu)\n", s.name, i, ms,
                  flop / ms / 1e9, res[i].workspaceSize);
      if (ms < best) best = ms, best_i = i;
    }
    // The default again, after the candidates: the clock drifts with the power draw.
    const float base2 = time_it([&] {
      CK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, s.n, s.m, s.k, &alpha, w, CUDA_R_16BF, s.k, x, CUDA_R_16BF, s.k,
                      &beta, y, CUDA_R_16BF, s.n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    });
    std::printf("%-26s SUMMARY default %.3f/%.3f ms, best lt #%d %.3f ms: %.1f%% faster\n", s.name, base, base2, best_i,
                best, (std::min(base, base2) / best - 1) * 100);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(op);
  }
  if (argc > 2 && std::string(argv[2]) == "student_bwd") backward_products(reps, h, lt, stream, ws, ws_size, e0, e1);
  return 0;
}
