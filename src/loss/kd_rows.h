// The fused per-row distillation kernel (CUDA; src/loss/kd_rows.cu): for one chunk of logits it
// computes every row's forward KL at temperature T, CE, both entropies and the gradient w.r.t. the
// student's logits in two reads of the logits (one on Hopper when a row fits on chip) and one
// write of the gradient, in the logits' own dtype. It replaces a dozen elementwise ATen passes over fp32 copies of the chunk (divergence.cpp),
// which it must match: the formulas are those of detail::chunk_loss for forward KL and CE.
//
// Plain C++ on purpose (no LibTorch, no CUDA headers): the .cu file is compiled by nvcc alone, and
// the LibTorch side (kd_rows_dispatch.cpp) only sees this.
#pragma once

#include <cstdint>

namespace distill::loss::kernels {

enum class LogitType : int { kFloat32 = 0, kBFloat16 = 1, kFloat16 = 2 };

struct KdRowsArgs {
  LogitType type = LogitType::kFloat32;  // of student, teacher and grad alike
  const void* student = nullptr;         // (rows, vs), row stride student_stride elements
  std::int64_t vs = 0, student_stride = 0;
  const void* teacher = nullptr;  // (rows, vt), row stride teacher_stride; nullptr = no KD term
  std::int64_t vt = 0, teacher_stride = 0;
  const std::int64_t* labels = nullptr;  // (rows); ignore_index rows are skipped (zeros written)
  std::int64_t ignore_index = -100;
  std::int64_t rows = 0;
  float temperature = 1.0f;  // T > 0: the KL compares softmax(logits / T) over the first min(vs, vt) columns
  float alpha = 0.0f;        // gradient = (1 - alpha) dCE/ds + alpha T^2 dKL/ds
  bool entropies = false;    // also the entropies (T = 1) of both models
  // (rows, vs) contiguous, the logits' type: the gradient of the row's loss w.r.t. the student's
  // logits (not divided by the token count); nullptr = values only.
  void* grad = nullptr;
  // (rows, 4) fp32: KL (no T^2), CE, teacher entropy, student entropy; 0 for skipped parts/rows.
  float* row_stats = nullptr;
};

// Launches on `stream` (a cudaStream_t). Returns nullptr when the launch succeeded, else the CUDA
// error's text. Never synchronises.
const char* launch_kd_rows(const KdRowsArgs& args, void* stream);

// On Hopper and later, rows whose logits fit the shared memory of a cluster of up to 8 blocks can
// be read from memory once (kd_rows.cu). Off by default: on the H200 it agrees with the two-read
// kernel but measured no faster (docs/loss.md).
// DISTILL_KD_ROWS_CLUSTER=1 in the environment, or this switch (for tests), turns it on.
void set_kd_rows_cluster(bool on);

}  // namespace distill::loss::kernels
