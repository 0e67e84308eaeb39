// The fused distillation loss against its direct formulas (fp64, full logits, torch autograd):
// every kind, chunked and unchunked, ignored tokens.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <ostream>
#include <string>
#include <vector>

#include "distill/loss/kd_loss.h"
#include "loss_reference.h"
#include "model_fixtures.h"

namespace distill {
namespace {

using loss::KdLossOptions;
using loss::LossKind;
using testing::fused_loss;
using testing::LossResult;
using testing::make_loss_batch;
using testing::max_rel_error;
using testing::reference_loss;

constexpr double kTol = 1e-5;  // fp32 against fp64, relative to the reference's scale

KdLossOptions make_options(LossKind kind, double temperature, double alpha, double beta = 0.5,
                           std::int64_t chunk = 4096) {
  KdLossOptions o;
  o.kind = kind;
  o.temperature = temperature;
  o.alpha = alpha;
  o.beta = beta;
  o.chunk_tokens = chunk;
  return o;
}

void expect_close(const LossResult& actual, const LossResult& expected, double tol, const std::string& what) {
  EXPECT_LT(max_rel_error(actual.loss, expected.loss), tol) << what << ": loss";
  EXPECT_LT(max_rel_error(actual.kd_loss, expected.kd_loss), tol) << what << ": kd_loss";
  EXPECT_LT(max_rel_error(actual.ce_loss, expected.ce_loss), tol) << what << ": ce_loss";
  EXPECT_LT(max_rel_error(actual.teacher_entropy, expected.teacher_entropy), tol) << what << ": teacher_entropy";
  EXPECT_LT(max_rel_error(actual.student_entropy, expected.student_entropy), tol) << what << ": student_entropy";
  EXPECT_EQ(actual.tokens.item<std::int64_t>(), expected.tokens.item<std::int64_t>()) << what << ": tokens";
  ASSERT_TRUE(actual.grad_hidden.defined() && actual.grad_weight.defined()) << what;
  EXPECT_LT(max_rel_error(actual.grad_hidden, expected.grad_hidden), tol) << what << ": grad hidden";
  EXPECT_LT(max_rel_error(actual.grad_weight, expected.grad_weight), tol) << what << ": grad weight";
}

struct Case {
  LossKind kind;
  double temperature, alpha, beta;
  std::string name;
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

class LossFormula : public ::testing::TestWithParam<Case> {};

// Values, diagnostics and gradients of each kind equal the direct formula; chunks of 5 over 23 rows.
TEST_P(LossFormula, MatchesDirectFormula) {
  const Case& c = GetParam();
  const auto batch = make_loss_batch(23, 8, 12, 37, 37, 7);
  const KdLossOptions o = make_options(c.kind, c.temperature, c.alpha, c.beta, 5);
  const LossResult expected = reference_loss(batch, o);
  expect_close(fused_loss(batch, o), expected, kTol, c.name);
  EXPECT_GT(expected.loss.item<double>(), 0.0);
  if (c.kind != LossKind::kCE) {
    EXPECT_GT(expected.kd_loss.item<double>(), 1e-3);  // a real KD term
  }
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, LossFormula,
    ::testing::Values(Case{LossKind::kForwardKL, 2.0, 0.5, 0.5, "forward_kl_T2_a05"},
                      Case{LossKind::kForwardKL, 1.0, 0.7, 0.5, "forward_kl_T1_a07"},
                      Case{LossKind::kForwardKL, 3.0, 1.0, 0.5, "forward_kl_T3_a1"},
                      Case{LossKind::kReverseKL, 2.0, 0.5, 0.5, "reverse_kl_T2_a05"},
                      Case{LossKind::kReverseKL, 1.0, 0.3, 0.5, "reverse_kl_T1_a03"},
                      Case{LossKind::kJSD, 2.0, 0.5, 0.3, "jsd_b03_T2"},
                      Case{LossKind::kJSD, 1.0, 0.9, 0.5, "jsd_b05_T1"},
                      Case{LossKind::kJSD, 4.0, 0.5, 0.9, "jsd_b09_T4"},
                      Case{LossKind::kCE, 2.0, 0.5, 0.5, "ce"}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

// Chunk sizes 1, a non-divisor, N and more than N all give the single-chunk result (and the formula).
TEST(LossChunking, ChunkedEqualsUnchunked) {
  const auto batch = make_loss_batch(29, 6, 10, 41, 41, 11);
  for (LossKind kind : {LossKind::kForwardKL, LossKind::kReverseKL, LossKind::kJSD, LossKind::kCE}) {
    const LossResult whole = fused_loss(batch, make_options(kind, 2.0, 0.6, 0.4, 29));
    expect_close(whole, reference_loss(batch, make_options(kind, 2.0, 0.6, 0.4)), kTol, "unchunked");
    for (std::int64_t chunk : {1, 3, 8, 28, 29, 30, 1000}) {
      const std::string what = std::string(loss::to_string(kind)) + " chunk " + std::to_string(chunk);
      expect_close(fused_loss(batch, make_options(kind, 2.0, 0.6, 0.4, chunk)), whole, kTol, what);
    }
  }
}

// entropies = false (the trainer's non-logging steps) leaves the loss and its gradients exactly as
// they are (against the formula) and only drops the monitoring entropies.
TEST(LossEntropies, OffChangesNothingButTheEntropies) {
  const auto batch = make_loss_batch(29, 6, 10, 41, 37, 12);
  for (LossKind kind : {LossKind::kForwardKL, LossKind::kJSD, LossKind::kCE}) {
    for (double T : {1.0, 2.0}) {
      KdLossOptions o = make_options(kind, T, 0.6, 0.4, 8);
      const LossResult expected = reference_loss(batch, o);
      o.entropies = false;
      LossResult off = fused_loss(batch, o);
      EXPECT_EQ(off.teacher_entropy.item<double>(), 0.0);
      EXPECT_EQ(off.student_entropy.item<double>(), 0.0);
      off.teacher_entropy = expected.teacher_entropy;
      off.student_entropy = expected.student_entropy;
      expect_close(off, expected, kTol, std::string(loss::to_string(kind)) + " T " + std::to_string(T));
    }
  }
}

// (B, T, E) hidden states and (B, T) labels are the same as their flattened rows.
TEST(LossChunking, BatchShapedInputsAreFlattened) {
  const auto batch = make_loss_batch(24, 6, 10, 19, 19, 3);
  const KdLossOptions o = make_options(LossKind::kForwardKL, 2.0, 0.5, 0.5, 7);
  auto shaped = batch;
  shaped.student_hidden = batch.student_hidden.view({4, 6, 6});
  shaped.teacher_hidden = batch.teacher_hidden.view({4, 6, 10});
  shaped.labels = batch.labels.view({4, 6});
  const LossResult flat = fused_loss(batch, o);
  const LossResult r = fused_loss(shaped, o);
  EXPECT_TRUE(at::equal(r.loss, flat.loss));
  EXPECT_EQ(r.grad_hidden.sizes(), shaped.student_hidden.sizes());
  EXPECT_TRUE(at::equal(r.grad_hidden.reshape({24, 6}), flat.grad_hidden));
  EXPECT_TRUE(at::equal(r.grad_weight, flat.grad_weight));
}

// Ignored rows (label -100) add nothing: the loss equals that of the batch without them, whatever
// their hidden states, and their gradient rows are zero.
TEST(LossMasking, IgnoredRowsDoNotCount) {
  const auto batch = make_loss_batch(16, 6, 10, 23, 23, 5);
  const at::Tensor keep = batch.labels.ne(-100).nonzero().squeeze(1);
  auto kept = batch;
  kept.student_hidden = batch.student_hidden.index_select(0, keep);
  kept.teacher_hidden = batch.teacher_hidden.index_select(0, keep);
  kept.labels = batch.labels.index_select(0, keep);
  auto noisy = batch;
  const at::Tensor ignored = batch.labels.eq(-100).unsqueeze(1);
  noisy.student_hidden = batch.student_hidden.masked_fill(ignored, 50.0);
  noisy.teacher_hidden = batch.teacher_hidden.masked_fill(ignored, -50.0);
  for (LossKind kind : {LossKind::kForwardKL, LossKind::kReverseKL, LossKind::kJSD, LossKind::kCE}) {
    const KdLossOptions o = make_options(kind, 2.0, 0.5, 0.5, 3);
    const LossResult r = fused_loss(noisy, o);
    const LossResult k = fused_loss(kept, o);
    EXPECT_EQ(r.tokens.item<std::int64_t>(), 12);
    EXPECT_LT(max_rel_error(r.loss, k.loss), kTol) << loss::to_string(kind);
    EXPECT_LT(max_rel_error(r.teacher_entropy, k.teacher_entropy), kTol) << loss::to_string(kind);
    EXPECT_LT(max_rel_error(r.grad_weight, k.grad_weight), kTol) << loss::to_string(kind);
    EXPECT_LT(max_rel_error(r.grad_hidden.index_select(0, keep), k.grad_hidden), kTol) << loss::to_string(kind);
    EXPECT_EQ(r.grad_hidden.masked_select(ignored).abs().max().item<double>(), 0.0) << loss::to_string(kind);
  }
}

// A batch where every label is ignored: every part is 0, gradients are 0, nothing is NaN.
TEST(LossMasking, AllIgnoredGivesZeros) {
  auto batch = make_loss_batch(9, 6, 10, 23, 23, 5);
  batch.labels.fill_(-100);
  for (LossKind kind : {LossKind::kForwardKL, LossKind::kReverseKL, LossKind::kJSD, LossKind::kCE}) {
    const LossResult r = fused_loss(batch, make_options(kind, 2.0, 0.5, 0.5, 4));
    EXPECT_EQ(r.tokens.item<std::int64_t>(), 0);
    for (const at::Tensor& t : {r.loss, r.kd_loss, r.ce_loss, r.teacher_entropy, r.student_entropy}) {
      EXPECT_EQ(t.item<double>(), 0.0) << loss::to_string(kind);
    }
    EXPECT_EQ(r.grad_hidden.abs().max().item<double>(), 0.0) << loss::to_string(kind);
    EXPECT_EQ(r.grad_weight.abs().max().item<double>(), 0.0) << loss::to_string(kind);
  }
}

// An empty batch (no rows at all) is the same: zeros, no error.
TEST(LossMasking, EmptyBatchGivesZeros) {
  const auto batch = make_loss_batch(0, 6, 10, 23, 23, 5);
  const LossResult r = fused_loss(batch, make_options(LossKind::kForwardKL, 2.0, 0.5));
  EXPECT_EQ(r.loss.item<double>(), 0.0);
  EXPECT_EQ(r.tokens.item<std::int64_t>(), 0);
  EXPECT_EQ(r.grad_weight.abs().max().item<double>(), 0.0);
}

}  // namespace
}  // namespace distill
