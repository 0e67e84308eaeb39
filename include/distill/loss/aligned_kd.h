// The distillation loss across tokenizers (loss.cross_tokenizer align, issue #7): the student's
// rows are paired with the teacher rows that have read the same bytes (xtok/alignment.h); exact
// rows compare the two distributions on the shared vocabulary, the other aligned rows by the
// sorted-probability (ULD) distance; every counted row gets the cross-entropy on the student's own
// labels. Fused with both LM heads and chunked like fused_linear_kd_loss. docs/cross-tokenizer.md.
#pragma once

#include <ATen/core/Tensor.h>

#include "distill/loss/kd_loss.h"

namespace distill::loss {

struct TeacherAlignment {
  at::Tensor rows;            // (N) int64: the row of the flattened teacher hidden states aligned with each student row, -1 none
  at::Tensor exact;           // (N) bool: the next token is the same string on both sides
  at::Tensor shared_student;  // (K) int64: student ids of the shared vocabulary ...
  at::Tensor shared_teacher;  // (K) int64: ... and the teacher ids with the same strings
  // (M) int64: the aligned non-exact rows (those that get ULD), -1 = padding (M is the host's
  // choice, e.g. a bucketed count). Undefined: found from rows and exact, which waits for the device.
  at::Tensor uld_rows{};
};

// kd_loss = T^2 * (sum over counted exact rows of D(p_shared || q_shared) + sum over counted aligned
// non-exact rows of ULD(p, q)) / counted tokens, with D the divergence of options.kind (forward_kl,
// reverse_kl, jsd) on softmax(./T) restricted to the shared vocabulary; loss = alpha * kd_loss +
// (1 - alpha) * ce_loss as in fused_linear_kd_loss. Unaligned rows only count in the CE.
// teacher_entropy is averaged over counted tokens with aligned rows contributing.
// Everything else (shapes, gradients) as fused_linear_kd_loss; no host synchronisation when
// uld_rows is given. The ULD rows are gathered and sorted in a pass of their own, so the cost of the
// sorts follows the number of rows where the tokenizations differ, not N.
KdLossOutput aligned_linear_kd_loss(const LmHead& student, const LmHead& teacher, const TeacherAlignment& alignment,
                                    const at::Tensor& labels, const KdLossOptions& options);

// The universal logit distillation distance per row (Boizard et al. 2024): both softmax(logits / T)
// sorted in descending order, the shorter padded with zeros, the sum of absolute differences
// (Wasserstein-1 between the sorted distributions). student_logits (n, Vs), teacher_logits (n, Vt)
// fp32. grad: d per_row / d (student_logits / T), (n, Vs); undefined unless with_grad.
struct UldResult {
  at::Tensor per_row;  // (n)
  at::Tensor grad;     // (n, Vs)
};
UldResult uld_distance(const at::Tensor& student_logits, const at::Tensor& teacher_logits, double temperature,
                       bool with_grad);

}  // namespace distill::loss
