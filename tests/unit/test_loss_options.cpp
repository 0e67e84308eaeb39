// The fused distillation loss's options and edges: alpha and temperature, the JSD's beta limits,
// vocabularies padded differently, autograd (teacher never gets gradients), bf16, bad input.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <limits>
#include <string>

#include "distill/config/config.h"
#include "distill/loss/kd_loss.h"
#include "distill/util/errors.h"
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

constexpr double kTol = 1e-5;

KdLossOptions make_options(LossKind kind, double temperature, double alpha, double beta = 0.5,
                           std::int64_t chunk = 6) {
  KdLossOptions o;
  o.kind = kind;
  o.temperature = temperature;
  o.alpha = alpha;
  o.beta = beta;
  o.chunk_tokens = chunk;
  return o;
}

bool all_equal(const LossResult& a, const LossResult& b) {
  return at::equal(a.loss, b.loss) && at::equal(a.kd_loss, b.kd_loss) && at::equal(a.grad_hidden, b.grad_hidden) &&
         at::equal(a.grad_weight, b.grad_weight);
}

// ---------------------------------------------------------------- alpha and temperature

// alpha = 1: no CE term. The loss is kd_loss, and the labels' values do not change the gradient.
TEST(LossAlpha, OneMeansNoCrossEntropy) {
  const auto batch = make_loss_batch(17, 6, 10, 29, 29, 21);
  const KdLossOptions o = make_options(LossKind::kForwardKL, 2.0, 1.0);
  const LossResult r = fused_loss(batch, o);
  EXPECT_TRUE(at::equal(r.loss, r.kd_loss));
  EXPECT_GT(r.ce_loss.item<double>(), 0.0);  // still computed for the log
  auto relabelled = batch;
  relabelled.labels = at::where(batch.labels.eq(-100), batch.labels, (batch.labels + 1) % 29);
  const LossResult s = fused_loss(relabelled, o);
  EXPECT_TRUE(at::equal(s.grad_hidden, r.grad_hidden));
  EXPECT_TRUE(at::equal(s.grad_weight, r.grad_weight));
  EXPECT_NE(s.ce_loss.item<double>(), r.ce_loss.item<double>());
}

// alpha = 0: pure CE, which needs no teacher; a teacher given anyway only feeds kd_loss and its
// entropy, not the gradient.
TEST(LossAlpha, ZeroMeansPureCrossEntropy) {
  const auto batch = make_loss_batch(17, 6, 10, 29, 29, 22);
  const KdLossOptions o = make_options(LossKind::kReverseKL, 2.0, 0.0);
  EXPECT_FALSE(loss::needs_teacher(o));
  const LossResult with = fused_loss(batch, o);
  const LossResult without = fused_loss(batch, o, /*with_teacher=*/false);
  const LossResult ce = fused_loss(batch, make_options(LossKind::kCE, 2.0, 0.5));
  EXPECT_TRUE(at::equal(with.loss, with.ce_loss));
  EXPECT_GT(with.kd_loss.item<double>(), 0.0);
  EXPECT_GT(with.teacher_entropy.item<double>(), 0.0);
  EXPECT_EQ(without.kd_loss.item<double>(), 0.0);
  EXPECT_EQ(without.teacher_entropy.item<double>(), 0.0);
  EXPECT_TRUE(at::equal(with.grad_hidden, without.grad_hidden));
  EXPECT_TRUE(at::equal(with.grad_weight, ce.grad_weight));
  EXPECT_TRUE(at::equal(with.loss, ce.loss));

  // The unused KD term is left out, not multiplied by 0: a non-finite teacher cannot spoil the loss.
  auto broken = batch;
  broken.teacher_hidden = batch.teacher_hidden.clone();
  broken.teacher_hidden[0][0] = std::numeric_limits<float>::infinity();
  const LossResult b = fused_loss(broken, o);
  EXPECT_FALSE(std::isfinite(b.kd_loss.item<double>()));
  EXPECT_TRUE(at::equal(b.loss, ce.loss));
  EXPECT_TRUE(at::equal(b.grad_weight, ce.grad_weight));
}

// In between, the loss is the alpha-weighted sum of its logged parts.
TEST(LossAlpha, LossIsWeightedSumOfParts) {
  const auto batch = make_loss_batch(17, 6, 10, 29, 29, 23);
  const LossResult r = fused_loss(batch, make_options(LossKind::kJSD, 2.5, 0.3, 0.2));
  EXPECT_NEAR(r.loss.item<double>(), 0.3 * r.kd_loss.item<double>() + 0.7 * r.ce_loss.item<double>(), 1e-6);
}

// kd_loss at temperature T on logits (s, t) is T^2 times kd_loss at T = 1 on (s / T, t / T); the
// entropies and the CE (both at T = 1) do not depend on T.
TEST(LossTemperature, ScalesLikeDividedLogits) {
  const auto batch = make_loss_batch(17, 6, 10, 29, 29, 24);
  for (LossKind kind : {LossKind::kForwardKL, LossKind::kReverseKL, LossKind::kJSD}) {
    const double T = 3.0;
    const LossResult hot = fused_loss(batch, make_options(kind, T, 0.5, 0.3));
    auto divided = batch;
    divided.student_weight = batch.student_weight / T;
    divided.teacher_weight = batch.teacher_weight / T;
    const LossResult cold = fused_loss(divided, make_options(kind, 1.0, 0.5, 0.3));
    EXPECT_LT(max_rel_error(hot.kd_loss, cold.kd_loss * (T * T)), kTol) << loss::to_string(kind);
    const LossResult one = fused_loss(batch, make_options(kind, 1.0, 0.5, 0.3));
    EXPECT_TRUE(at::equal(hot.ce_loss, one.ce_loss));
    EXPECT_TRUE(at::equal(hot.student_entropy, one.student_entropy));
    EXPECT_TRUE(at::equal(hot.teacher_entropy, one.teacher_entropy));
    EXPECT_GT(std::abs(hot.kd_loss.item<double>() - one.kd_loss.item<double>()), 1e-3);
  }
}

// ---------------------------------------------------------------- JSD

// beta = 0 and beta = 1 are forward and reverse KL, exactly.
TEST(LossJsd, BetaEndpointsAreTheKls) {
  const auto batch = make_loss_batch(17, 6, 10, 29, 29, 31);
  const LossResult forward = fused_loss(batch, make_options(LossKind::kForwardKL, 2.0, 0.5));
  const LossResult reverse = fused_loss(batch, make_options(LossKind::kReverseKL, 2.0, 0.5));
  EXPECT_TRUE(all_equal(fused_loss(batch, make_options(LossKind::kJSD, 2.0, 0.5, 0.0)), forward));
  EXPECT_TRUE(all_equal(fused_loss(batch, make_options(LossKind::kJSD, 2.0, 0.5, 1.0)), reverse));
  EXPECT_GT(std::abs(forward.kd_loss.item<double>() - reverse.kd_loss.item<double>()), 1e-3);
}

// The normalised JSD is continuous at the endpoints: as beta approaches 0 (1), kd_loss and the
// gradient approach forward (reverse) KL's, the error shrinking like the distance to the endpoint
// down to beta = 1e-6 (fp32 rounding does not take over).
TEST(LossJsd, ApproachesTheKlsNearTheEndpoints) {
  const auto batch = make_loss_batch(17, 6, 10, 29, 29, 32);
  const LossResult forward = fused_loss(batch, make_options(LossKind::kForwardKL, 2.0, 1.0));
  const LossResult reverse = fused_loss(batch, make_options(LossKind::kReverseKL, 2.0, 1.0));
  double last[4] = {1.0, 1.0, 1.0, 1.0};
  for (double eps : {1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6}) {
    const LossResult near0 = fused_loss(batch, make_options(LossKind::kJSD, 2.0, 1.0, eps));
    const LossResult near1 = fused_loss(batch, make_options(LossKind::kJSD, 2.0, 1.0, 1.0 - eps));
    const double err[4] = {max_rel_error(near0.kd_loss, forward.kd_loss), max_rel_error(near1.kd_loss, reverse.kd_loss),
                           max_rel_error(near0.grad_weight, forward.grad_weight),
                           max_rel_error(near1.grad_weight, reverse.grad_weight)};
    for (int i = 0; i < 4; ++i) {
      EXPECT_LT(err[i], last[i] * 0.5) << "beta " << eps << " from the endpoint, measure " << i;
      EXPECT_LT(err[i], 100.0 * eps) << "beta " << eps << " from the endpoint, measure " << i;
      last[i] = err[i];
    }
  }
}

// At beta = 0.5 the divergence is symmetric (swapping teacher and student changes nothing) and is 4
// times the classic Jensen-Shannon divergence, so at most 4 ln 2.
TEST(LossJsd, HalfIsSymmetricAndBounded) {
  const auto batch = make_loss_batch(17, 8, 8, 29, 29, 33);
  auto swapped = batch;
  swapped.student_hidden = batch.teacher_hidden;
  swapped.student_weight = batch.teacher_weight;
  swapped.teacher_hidden = batch.student_hidden;
  swapped.teacher_weight = batch.student_weight;
  const KdLossOptions o = make_options(LossKind::kJSD, 1.0, 1.0, 0.5);
  const LossResult a = fused_loss(batch, o);
  const LossResult b = fused_loss(swapped, o);
  EXPECT_LT(max_rel_error(a.kd_loss, b.kd_loss), kTol);
  EXPECT_LE(a.kd_loss.item<double>(), 4.0 * std::log(2.0));
  EXPECT_GT(a.kd_loss.item<double>(), 0.0);
}

// ---------------------------------------------------------------- vocabularies

// A teacher vocabulary padded beyond the student's (152064 vs 151936): the divergence uses the
// shared range only (the teacher's extra rows do not matter to it), the teacher entropy all of it.
TEST(LossVocab, TeacherPaddedBeyondStudent) {
  const auto batch = make_loss_batch(17, 6, 10, 29, 35, 41);
  for (LossKind kind : {LossKind::kForwardKL, LossKind::kReverseKL, LossKind::kJSD}) {
    const KdLossOptions o = make_options(kind, 2.0, 0.5, 0.3);
    const LossResult r = fused_loss(batch, o);
    const LossResult expected = reference_loss(batch, o);
    EXPECT_LT(max_rel_error(r.loss, expected.loss), kTol) << loss::to_string(kind);
    EXPECT_LT(max_rel_error(r.teacher_entropy, expected.teacher_entropy), kTol) << loss::to_string(kind);
    EXPECT_LT(max_rel_error(r.grad_hidden, expected.grad_hidden), kTol) << loss::to_string(kind);
    EXPECT_LT(max_rel_error(r.grad_weight, expected.grad_weight), kTol) << loss::to_string(kind);

    auto repadded = batch;
    repadded.teacher_weight = batch.teacher_weight.clone();
    repadded.teacher_weight.narrow(0, 29, 6).mul_(7.0);
    const LossResult p = fused_loss(repadded, o);
    EXPECT_TRUE(at::equal(p.kd_loss, r.kd_loss)) << loss::to_string(kind);
    EXPECT_TRUE(at::equal(p.grad_weight, r.grad_weight)) << loss::to_string(kind);
    EXPECT_FALSE(at::equal(p.teacher_entropy, r.teacher_entropy)) << loss::to_string(kind);
  }
}

// A student vocabulary larger than the teacher's: the divergence over the shared range, the CE over
// the student's whole vocabulary (labels beyond the teacher's range included).
TEST(LossVocab, StudentLargerThanTeacher) {
  auto batch = make_loss_batch(17, 6, 10, 35, 29, 42);
  batch.labels[0] = 33;
  for (LossKind kind : {LossKind::kForwardKL, LossKind::kJSD}) {
    const KdLossOptions o = make_options(kind, 2.0, 0.5, 0.7);
    const LossResult r = fused_loss(batch, o);
    const LossResult expected = reference_loss(batch, o);
    EXPECT_LT(max_rel_error(r.loss, expected.loss), kTol) << loss::to_string(kind);
    EXPECT_LT(max_rel_error(r.ce_loss, expected.ce_loss), kTol) << loss::to_string(kind);
    EXPECT_LT(max_rel_error(r.grad_hidden, expected.grad_hidden), kTol) << loss::to_string(kind);
    EXPECT_LT(max_rel_error(r.grad_weight, expected.grad_weight), kTol) << loss::to_string(kind);
  }
}

// ---------------------------------------------------------------- autograd

// The teacher's tensors never get a gradient, even when they ask for one; only `loss` is differentiable.
TEST(LossAutograd, TeacherNeverGetsGradients) {
  const auto batch = make_loss_batch(17, 6, 10, 29, 29, 51);
  const at::Tensor th = batch.teacher_hidden.clone().requires_grad_(true);
  const at::Tensor tw = batch.teacher_weight.clone().requires_grad_(true);
  const at::Tensor sh = batch.student_hidden.clone().requires_grad_(true);
  const at::Tensor sw = batch.student_weight.clone().requires_grad_(true);
  const auto out = loss::fused_linear_kd_loss({sh, sw}, {th, tw}, batch.labels,
                                              make_options(LossKind::kReverseKL, 2.0, 0.5));
  EXPECT_TRUE(out.loss.requires_grad());
  for (const at::Tensor& t : {out.kd_loss, out.ce_loss, out.teacher_entropy, out.student_entropy, out.tokens}) {
    EXPECT_FALSE(t.requires_grad());
  }
  out.loss.backward();
  EXPECT_FALSE(th.grad().defined());
  EXPECT_FALSE(tw.grad().defined());
  EXPECT_TRUE(sh.grad().defined());
  EXPECT_TRUE(sw.grad().defined());
}

// Backward scales the saved gradients by the incoming gradient (loss / grad_accum, loss scaling),
// and accumulates into .grad like any other op.
TEST(LossAutograd, BackwardScalesAndAccumulates) {
  const auto batch = make_loss_batch(17, 6, 10, 29, 29, 52);
  const KdLossOptions o = make_options(LossKind::kForwardKL, 2.0, 0.5);
  const LossResult once = fused_loss(batch, o);
  const at::Tensor sh = batch.student_hidden.clone().requires_grad_(true);
  const at::Tensor sw = batch.student_weight.clone().requires_grad_(true);
  for (double scale : {2.5, 0.5}) {
    const loss::LmHead teacher{batch.teacher_hidden, batch.teacher_weight};
    const auto out = loss::fused_linear_kd_loss({sh, sw}, teacher, batch.labels, o);
    (out.loss * scale).backward();
  }
  EXPECT_LT(max_rel_error(sh.grad(), once.grad_hidden * 3.0), kTol);
  EXPECT_LT(max_rel_error(sw.grad(), once.grad_weight * 3.0), kTol);
}

// Only what requires grad gets one (a frozen head); under no-grad (validation) nothing is saved and
// the values are the same.
TEST(LossAutograd, FrozenHeadAndNoGradMode) {
  const auto batch = make_loss_batch(17, 6, 10, 29, 29, 53);
  const KdLossOptions o = make_options(LossKind::kJSD, 2.0, 0.5, 0.4);
  const LossResult full = fused_loss(batch, o);
  const at::Tensor sh = batch.student_hidden.clone().requires_grad_(true);
  const loss::LmHead teacher{batch.teacher_hidden, batch.teacher_weight};
  const auto frozen = loss::fused_linear_kd_loss({sh, batch.student_weight}, teacher, batch.labels, o);
  frozen.loss.backward();
  EXPECT_TRUE(at::equal(sh.grad(), full.grad_hidden));
  EXPECT_FALSE(batch.student_weight.grad().defined());

  at::NoGradGuard no_grad;
  const at::Tensor sw = batch.student_weight.clone().requires_grad_(true);
  const auto eval = loss::fused_linear_kd_loss({sh, sw}, teacher, batch.labels, o);
  EXPECT_FALSE(eval.loss.requires_grad());
  EXPECT_TRUE(at::equal(eval.loss, full.loss));
  EXPECT_TRUE(at::equal(eval.kd_loss, full.kd_loss));
}

// ---------------------------------------------------------------- precision

// bf16 hidden states and heads: logits from the bf16 matmul, loss in fp32, gradients back in bf16.
// Against the fp64 formula on the same (bf16-rounded) inputs, to bf16's ~3 significant digits.
TEST(LossPrecision, Bf16IsCloseToTheFormula) {
  const auto batch = make_loss_batch(33, 16, 24, 61, 64, 61, at::kBFloat16);
  for (LossKind kind : {LossKind::kForwardKL, LossKind::kReverseKL, LossKind::kJSD, LossKind::kCE}) {
    const KdLossOptions o = make_options(kind, 2.0, 0.5, 0.4, 8);
    const LossResult r = fused_loss(batch, o);
    const LossResult expected = reference_loss(batch, o);
    EXPECT_EQ(r.loss.scalar_type(), at::kFloat);
    EXPECT_EQ(r.grad_hidden.scalar_type(), at::kBFloat16);
    EXPECT_EQ(r.grad_weight.scalar_type(), at::kBFloat16);
    EXPECT_LT(max_rel_error(r.loss, expected.loss), 2e-2) << loss::to_string(kind);
    EXPECT_LT(max_rel_error(r.kd_loss, expected.kd_loss), 3e-2) << loss::to_string(kind);
    EXPECT_LT(max_rel_error(r.grad_hidden, expected.grad_hidden), 3e-2) << loss::to_string(kind);
    EXPECT_LT(max_rel_error(r.grad_weight, expected.grad_weight), 3e-2) << loss::to_string(kind);
  }
}

// fp32 master weights with bf16 activations: the head is cast for the matmul, its gradient comes
// back in fp32.
TEST(LossPrecision, Fp32HeadWithBf16Hidden) {
  auto batch = make_loss_batch(33, 16, 24, 61, 61, 62);
  batch.student_hidden = batch.student_hidden.to(at::kBFloat16);
  batch.teacher_hidden = batch.teacher_hidden.to(at::kBFloat16);
  batch.teacher_weight = batch.teacher_weight.to(at::kBFloat16);
  const KdLossOptions o = make_options(LossKind::kForwardKL, 2.0, 0.5, 0.5, 8);
  const LossResult r = fused_loss(batch, o);
  EXPECT_EQ(r.grad_hidden.scalar_type(), at::kBFloat16);
  EXPECT_EQ(r.grad_weight.scalar_type(), at::kFloat);
  EXPECT_LT(max_rel_error(r.grad_weight, reference_loss(batch, o).grad_weight), 3e-2);
}

// ---------------------------------------------------------------- options and errors

TEST(LossOptions, FromConfigAndValidation) {
  config::LossConfig c;
  c.kind = "jsd";
  c.temperature = 3.0;
  c.alpha = 0.7;
  c.beta = 0.25;
  c.chunk_tokens = 512;
  const KdLossOptions o = loss::options_from_config(c);
  EXPECT_EQ(o.kind, LossKind::kJSD);
  EXPECT_EQ(o.temperature, 3.0);
  EXPECT_EQ(o.alpha, 0.7);
  EXPECT_EQ(o.beta, 0.25);
  EXPECT_EQ(o.chunk_tokens, 512);
  EXPECT_EQ(o.ignore_index, -100);
  EXPECT_TRUE(loss::needs_teacher(o));
  EXPECT_FALSE(loss::needs_teacher(make_options(LossKind::kCE, 1.0, 0.5)));
  for (const char* name : {"forward_kl", "reverse_kl", "jsd", "ce"}) {
    EXPECT_STREQ(loss::to_string(loss::parse_loss_kind(name)), name);
  }
  EXPECT_THROW(loss::parse_loss_kind("kl"), UsageError);

  const auto rejects = [](KdLossOptions bad, const std::string& key) {
    try {
      loss::validate(bad);
      ADD_FAILURE() << key << " accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  };
  KdLossOptions bad = o;
  bad.temperature = 0.0;
  rejects(bad, "loss.temperature");
  bad = o;
  bad.alpha = 1.5;
  rejects(bad, "loss.alpha");
  bad = o;
  bad.beta = std::nan("");
  rejects(bad, "loss.beta");
  bad = o;
  bad.chunk_tokens = 0;
  rejects(bad, "loss.chunk_tokens");
}

// The ce kind ignores a teacher that is given; a KD kind with alpha > 0 needs one; mismatched
// shapes are internal errors that say what did not match.
TEST(LossOptions, TeacherRulesAndShapeErrors) {
  const auto batch = make_loss_batch(17, 6, 10, 29, 29, 71);
  const KdLossOptions ce = make_options(LossKind::kCE, 2.0, 0.5);
  const LossResult with = fused_loss(batch, ce);
  EXPECT_TRUE(all_equal(with, fused_loss(batch, ce, /*with_teacher=*/false)));
  EXPECT_EQ(with.teacher_entropy.item<double>(), 0.0);
  EXPECT_EQ(with.kd_loss.item<double>(), 0.0);

  const KdLossOptions kd = make_options(LossKind::kForwardKL, 2.0, 0.5);
  EXPECT_THROW(fused_loss(batch, kd, /*with_teacher=*/false), Error);
  auto bad = batch;
  bad.student_weight = batch.student_weight.narrow(1, 0, 5);
  EXPECT_THROW(fused_loss(bad, kd), Error);
  bad = batch;
  bad.labels = batch.labels.narrow(0, 0, 16);
  EXPECT_THROW(fused_loss(bad, kd), Error);
  bad = batch;
  bad.teacher_hidden = batch.teacher_hidden.narrow(0, 0, 16);
  EXPECT_THROW(fused_loss(bad, kd), Error);
  bad = batch;
  bad.labels = batch.labels.to(at::kInt);
  EXPECT_THROW(fused_loss(bad, kd), Error);
}

}  // namespace
}  // namespace distill
