// Experiment (issue #8): the fused KD-rows loss kernel alone (src/loss/kd_rows.cu) on one loss chunk
// of the Qwen2.5-7B -> 0.5B benchmark: 1024 rows, student 151936 and teacher 152064 bf16 logits, T 2,
// alpha 0.5, with the gradient. Prints microseconds per launch, the bytes it must move at that speed,
// and checksums of its outputs (to compare variants of the kernel built from other copies of the file).
//
//   nvcc -std=c++17 -O3 -arch=sm_90 -Isrc/loss -Iinclude scripts/experiments/kd_rows_bench.cu \
//        src/loss/kd_rows.cu src/util/env_switch.cpp -o /tmp/kd_rows_bench && /tmp/kd_rows_bench
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "kd_rows.h"

namespace {

#define CK(x)                                                                     \
  do {                                                                            \
    cudaError_t e_ = (x);                                                         \
    if (e_ != cudaSuccess) {                                                      \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(e_)); \
      std::exit(1);                                                               \
    }                                                                             \
  } while (0)

// Logits spread like a model's: uniform in [-8, 8) plus a few large ones.
__global__ void fill(__nv_bfloat16* p, std::size_t n, unsigned seed) {
  for (std::size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (std::size_t)gridDim.x * blockDim.x) {
    unsigned x = static_cast<unsigned>(i) * 2654435761u ^ seed;
    x ^= x >> 13;
    x *= 0x5bd1e995u;
    x ^= x >> 15;
    float v = ((x & 0xffff) / 65536.0f - 0.5f) * 16.0f;
    if ((x >> 16) % 997 == 0) v += 12.0f;
    p[i] = __float2bfloat16(v);
  }
}

}  // namespace

int main() {
  using namespace distill::loss::kernels;
  const std::int64_t rows = 1024, vs = 151936, vt = 152064;
  __nv_bfloat16 *s, *t, *g;
  std::int64_t* labels;
  float* stats;
  CK(cudaMalloc(&s, rows * vs * 2));
  CK(cudaMalloc(&t, rows * vt * 2));
  CK(cudaMalloc(&g, rows * vs * 2));
  CK(cudaMalloc(&labels, rows * 8));
  CK(cudaMalloc(&stats, rows * 4 * 4));
  fill<<<2048, 256>>>(s, rows * vs, 1);
  fill<<<2048, 256>>>(t, rows * vt, 2);
  std::vector<std::int64_t> host_labels(rows);
  for (std::int64_t r = 0; r < rows; ++r) host_labels[r] = (r * 7919) % vs;
  CK(cudaMemcpy(labels, host_labels.data(), rows * 8, cudaMemcpyHostToDevice));

  KdRowsArgs a;
  a.type = LogitType::kBFloat16;
  a.student = s;
  a.vs = vs;
  a.student_stride = vs;
  a.teacher = t;
  a.vt = vt;
  a.teacher_stride = vt;
  a.labels = labels;
  a.rows = rows;
  a.temperature = 2.0f;
  a.alpha = 0.5f;
  a.grad = g;
  a.row_stats = stats;
  cudaStream_t stream;
  CK(cudaStreamCreate(&stream));
  for (int i = 0; i < 3; ++i) {
    if (const char* err = launch_kd_rows(a, stream)) {
      std::fprintf(stderr, "launch: %s\n", err);
      return 1;
    }
  }
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  const int reps = 30;
  CK(cudaEventRecord(e0, stream));
  for (int i = 0; i < reps; ++i) launch_kd_rows(a, stream);
  CK(cudaEventRecord(e1, stream));
  CK(cudaEventSynchronize(e1));
  float ms = 0;
  CK(cudaEventElapsedTime(&ms, e0, e1));
  const double us = 1000.0 * ms / reps;
  const double bytes = 2.0 * rows * (2.0 * vs + 2.0 * vt + vs);  // both rows read twice, the gradient written
  std::vector<float> host_stats(rows * 4);
  std::vector<__nv_bfloat16> host_g(rows * vs);
  CK(cudaMemcpy(host_stats.data(), stats, host_stats.size() * 4, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(host_g.data(), g, host_g.size() * 2, cudaMemcpyDeviceToHost));
  double kl = 0, ce = 0, gabs = 0, gdot = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    kl += host_stats[r * 4];
    ce += host_stats[r * 4 + 1];
  }
  for (std::size_t i = 0; i < host_g.size(); ++i) {
    const double v = __bfloat162float(host_g[i]);
    gabs += std::fabs(v);
    gdot += v * static_cast<double>((i * 2654435761u) % 1000) / 1000.0;
  }
  std::printf("kd_rows %.1f us per 1024-row chunk (%.2f TB/s for the two reads and one write); "
              "checksums: kl %.9g ce %.9g |g| %.9g g.w %.9g\n",
              us, bytes / us / 1e6, kl, ce, gabs, gdot);
  return 0;
}
