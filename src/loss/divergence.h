// Per-chunk loss math (private to src/loss): values and the analytic gradient w.r.t. the student's
// logits for every loss kind, on fp32 logits of one chunk of tokens.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "distill/loss/kd_loss.h"

namespace distill::loss::detail {

// A divergence between the tempered distributions, per row, from log-probabilities.
struct Divergence {
  at::Tensor per_row;  // (n) fp32
  at::Tensor grad;     // (n, V) fp32: d per_row / d z, z = student logits / T; undefined unless asked
};

// student_logp, teacher_logp: (n, V) log_softmax(logits / T) over the shared vocabulary.
// kind is kForwardKL, kReverseKL or kJSD (beta in [0, 1]; docs/loss.md has the formulas).
Divergence divergence(LossKind kind, double beta, const at::Tensor& student_logp, const at::Tensor& teacher_logp,
                      bool with_grad);

// One chunk's sums over its counted rows (labels != ignore_index); the caller divides by the number
// of counted tokens of the whole batch.
struct ChunkSums {
  at::Tensor kd;               // () fp32: sum of the divergence (no T^2); 0 without teacher or for "ce"
  at::Tensor ce;               // () fp32: sum of -log softmax(s)[label]
  at::Tensor teacher_entropy;  // () fp32: sum of the teacher's entropy at T = 1; 0 without teacher
  at::Tensor student_entropy;  // () fp32: sum of the student's entropy at T = 1
  // (n, Vs) fp32: d/ds of sum over counted rows of alpha * T^2 * divergence + (1 - alpha) * ce;
  // ignored rows are 0. Undefined unless asked.
  at::Tensor grad_logits;
};

// student_logits (n, Vs) fp32; teacher_logits (n, Vt) fp32 or undefined (then no KD term);
// labels (n) int64. The KD term's alpha is 0 for kind "ce". The logits are taken by value and
// released once used (pass them with std::move to free their memory early).
ChunkSums chunk_loss(at::Tensor student_logits, at::Tensor teacher_logits, const at::Tensor& labels,
                     const KdLossOptions& options, bool with_grad);

// The fused CUDA kernel (kd_rows.h, kd_rows_dispatch.cpp) in place of chunk_loss: for CUDA logits of
// one floating type (fp32, bf16, fp16), forward KL (or no KD term) and options.fused_kernel. It takes
// the logits in their own dtype and returns grad_logits in it; otherwise the same contract.
bool fused_chunk_applies(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                         const KdLossOptions& options);
ChunkSums fused_chunk_loss(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                           const at::Tensor& labels, const KdLossOptions& options, bool with_grad);

}  // namespace distill::loss::detail

namespace distill::loss::detail {

// loss.cross_tokenizer align, one chunk: shared-vocabulary divergence on exact rows, CE on counted
// rows; student_logits (n, Vs) fp32; teacher_shared (n, K) fp32 are the aligned teacher rows' logits
// at the shared vocabulary's K ids only (garbage on unaligned rows, which are masked); teacher_full
// (n, Vt), only needed when options.entropies (the teacher's entropy), else undefined; aligned,
// exact (n) bool; shared_student (K) int64, in the order of teacher_shared's columns (aligned_kd.h
// has the formula).
ChunkSums aligned_chunk_loss(at::Tensor student_logits, at::Tensor teacher_shared, at::Tensor teacher_full,
                             const at::Tensor& labels, const at::Tensor& aligned, const at::Tensor& exact,
                             const at::Tensor& shared_student, const KdLossOptions& options, bool with_grad);

// The ULD term over the rows that need it only (few: where the tokenizations differ), gathered
// by index so that the sorts cost O(rows * V) for those rows alone. uld_rows (M) int64 student rows,
// -1 = padding; rows that are not counted, not aligned or exact are masked. Adds alpha * T * the
// per-token gradient (not yet divided by the token count) into grad_hidden (N, Es) and grad_weight
// (Vs, Es) where defined; returns the sum of the distances (no T^2).
struct UldInputs {
  const at::Tensor& student_hidden;  // (N, Es) compute dtype
  const at::Tensor& student_weight;  // (Vs, Es) compute dtype
  const at::Tensor& teacher_hidden;  // (NT, Et)
  const at::Tensor& teacher_weight;  // (Vt, Et) teacher_hidden's dtype
  const at::Tensor& teacher_rows;    // (N) int64, -1 none
  const at::Tensor& exact;           // (N) bool
  const at::Tensor& labels;          // (N) int64
  const at::Tensor& uld_rows;        // (M) int64
};
at::Tensor uld_pass(const UldInputs& in, const KdLossOptions& options, at::Tensor& grad_hidden,
                    at::Tensor& grad_weight);

}  // namespace distill::loss::detail
