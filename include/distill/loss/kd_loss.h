// The distillation loss (forward/reverse KL, JSD, CE), fused with both LM heads and computed chunk by
// chunk over tokens so that full (N, V) fp32 logits never exist. Formulas and memory: docs/loss.md.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace distill::config {
struct LossConfig;
}

namespace distill::loss {

enum class LossKind {
  kForwardKL,  // KL(teacher || student): the classic KD loss
  kReverseKL,  // KL(student || teacher)
  kJSD,        // generalised Jensen-Shannon, normalised so beta 0 / 1 are forward / reverse KL
  kCE,         // plain cross-entropy, no teacher
};

// "forward_kl" | "reverse_kl" | "jsd" | "ce"; anything else is a UsageError naming loss.kind.
LossKind parse_loss_kind(const std::string& name);
const char* to_string(LossKind kind);

struct KdLossOptions {
  LossKind kind = LossKind::kForwardKL;
  double temperature = 2.0;         // T > 0: softens both distributions; the KD term is scaled by T^2
  double alpha = 0.5;               // in [0, 1]: loss = alpha * kd_loss + (1 - alpha) * ce_loss
  double beta = 0.5;                // in [0, 1], jsd only: 0 = forward KL, 1 = reverse KL
  std::int64_t chunk_tokens = 4096; // rows (tokens) per chunk; memory is O(chunk_tokens * V)
  std::int64_t ignore_index = -100; // labels equal to it (padding, prompts) are not counted
  bool entropies = true;            // also compute teacher/student entropies (monitoring only; ~1/3 of the
                                    // loss's elementwise passes: the trainer asks only on steps it logs)
  bool fused_kernel = true;         // CUDA: one fused kernel per chunk for forward KL / CE (src/loss/kd_rows.cu);
                                    // false = the ATen path (tests compare the two)
};

// The loss.* keys of a config (loss.cross_tokenizer is not the loss's business).
KdLossOptions options_from_config(const config::LossConfig& config);

// Throws UsageError naming the loss.* key when an option is out of range.
void validate(const KdLossOptions& options);

// Whether fused_linear_kd_loss needs the teacher's hidden states and head: false for kind "ce" and
// for alpha = 0 (pure CE; a teacher that is given anyway only feeds kd_loss and teacher_entropy).
bool needs_teacher(const KdLossOptions& options);

// Final hidden states and the LM head that turns them into logits: logits = hidden @ weight^T.
struct LmHead {
  at::Tensor hidden;  // (N, E) or (B, T, E); the matmul runs in this dtype
  at::Tensor weight;  // (V, E); cast to hidden's dtype for the matmuls when it differs
};

// Every part is a 0-dim tensor on the hidden states' device; nothing here waits for the device.
struct KdLossOutput {
  at::Tensor loss;             // fp32: alpha * kd_loss + (1 - alpha) * ce_loss; the only differentiable part
  at::Tensor kd_loss;          // fp32: T^2 * mean divergence over counted tokens (before alpha); 0 for "ce"
  at::Tensor ce_loss;          // fp32: mean cross-entropy of the student over counted tokens (T = 1)
  at::Tensor teacher_entropy;  // fp32: mean entropy (nats) of softmax(teacher logits), T = 1; 0 without teacher
  at::Tensor student_entropy;  // fp32: the same for the student
  at::Tensor tokens;           // int64: counted tokens (labels != ignore_index)
};

// The fused loss. Row i of the hidden states predicts labels[i] (shifting for next-token prediction
// is the caller's job); labels (N) or (B, T) int64, each in [0, V_student) or ignore_index.
//
// Gradients: `loss` routes gradients to student.hidden and student.weight (when they require grad
// and grad mode is on); they are computed analytically during this call, chunk by chunk, and kept
// (fp32, (N, E) and (V, E)) until backward. The teacher never gets a gradient (its tensors are used
// detached). Under no-grad (validation) only the values are computed.
//
// Vocabularies: the divergence compares the first min(V_student, V_teacher) logits (sizes padded
// differently, e.g. 151936 vs 152064; logged once per pair); the CE and the student entropy use the
// student's whole vocabulary, the teacher entropy the teacher's.
//
// No counted token (every label ignored): every part is 0 and so are the gradients (never NaN).
//
// `teacher` may be empty (undefined tensors) when needs_teacher(options) is false.
// Shape or device mismatches are internal errors (distill::Error, exit 1).
KdLossOutput fused_linear_kd_loss(const LmHead& student, const LmHead& teacher, const at::Tensor& labels,
                                  const KdLossOptions& options);

}  // namespace distill::loss
