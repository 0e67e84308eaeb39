// The cross-tokenizer loss: ULD against its direct formula, and the fused aligned loss (values and
// gradients, every chunk size) against the whole loss written with plain ops in fp64 + autograd.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/autograd.h>

#include <string>
#include <tuple>

#include "distill/loss/aligned_kd.h"
#include "loss_reference.h"

namespace distill {
namespace {

// Sorted descending, the shorter padded with zeros, sum of absolute differences.
at::Tensor uld_direct(const at::Tensor& s, const at::Tensor& t, double T) {
  at::Tensor q = std::get<0>(at::sort(at::softmax(s / T, -1), -1, true));
  at::Tensor p = std::get<0>(at::sort(at::softmax(t / T, -1), -1, true));
  const std::int64_t v = std::max(q.size(1), p.size(1));
  q = at::constant_pad_nd(q, {0, v - q.size(1)}, 0.0);
  p = at::constant_pad_nd(p, {0, v - p.size(1)}, 0.0);
  return (q - p).abs().sum(-1);
}

TEST(LossUld, MatchesTheDirectFormulaAndItsGradient) {
  at::Generator gen = at::detail::createCPUGenerator(7);
  for (const auto& [vs, vt] : {std::pair<std::int64_t, std::int64_t>{6, 9}, {9, 6}, {7, 7}}) {
    const double T = 1.7;
    const at::Tensor s = at::randn({5, vs}, gen, at::kFloat) * 2.0;
    const at::Tensor t = at::randn({5, vt}, gen, at::kFloat) * 2.0;
    const loss::UldResult r = loss::uld_distance(s, t, T, true);
    const at::Tensor s64 = s.to(at::kDouble).set_requires_grad(true);
    const at::Tensor ref = uld_direct(s64, t.to(at::kDouble), T);
    EXPECT_TRUE(at::allclose(r.per_row.to(at::kDouble), ref.detach(), 1e-5, 1e-6)) << vs << " " << vt;
    const at::Tensor g = torch::autograd::grad({ref.sum()}, {s64})[0];  // d/ds = d/dz / T
    EXPECT_TRUE(at::allclose(r.grad.to(at::kDouble) / T, g, 1e-4, 1e-6)) << vs << " " << vt;
  }
}

TEST(LossUld, IsZeroForTheSameDistributionInAnotherOrder) {
  const at::Tensor s = at::tensor({1.0f, 2.0f, 3.0f, -1.0f}).unsqueeze(0);
  const at::Tensor t = at::tensor({3.0f, -1.0f, 1.0f, 2.0f, -100.0f}).unsqueeze(0);  // + one ~0 entry
  EXPECT_NEAR(loss::uld_distance(s, t, 1.0, false).per_row.item<double>(), 0.0, 1e-6);
}

struct AlignedCase {
  testing::LossBatch b;
  at::Tensor rows, exact, shared_s, shared_t;
};

// N student rows, NT teacher rows; some rows unaligned, some exact; a shared vocabulary of K ids.
AlignedCase make_case(std::int64_t n, std::int64_t nt, std::int64_t vs, std::int64_t vt, std::uint64_t seed) {
  AlignedCase c;
  c.b = testing::make_loss_batch(n, 8, 6, vs, vt, seed);
  at::Generator gen = at::detail::createCPUGenerator(seed + 1);
  c.b.teacher_hidden = at::randn({nt, 6}, gen, at::kFloat);
  c.rows = at::randint(0, nt, {n}, gen, at::kLong);
  c.rows.index_fill_(0, at::arange(0, n, 3), -1);  // every third row unaligned
  c.exact = at::arange(n, at::kLong).remainder(2).eq(0);  // even rows exact, odd rows ULD (when aligned)
  const std::int64_t k = std::min(vs, vt) / 2;
  c.shared_s = at::randperm(vs, gen, at::kLong).narrow(0, 0, k);
  c.shared_t = at::randperm(vt, gen, at::kLong).narrow(0, 0, k);
  return c;
}

struct RefOut {
  at::Tensor loss, kd, ce, grad_hidden, grad_weight;
};

RefOut reference(const AlignedCase& c, double T, double alpha) {
  const at::Tensor hs = c.b.student_hidden.to(at::kDouble).set_requires_grad(true);
  const at::Tensor ws = c.b.student_weight.to(at::kDouble).set_requires_grad(true);
  const at::Tensor s = at::mm(hs, ws.t());                                                         // (N, Vs)
  const at::Tensor t = at::mm(c.b.teacher_hidden.to(at::kDouble).index_select(0, c.rows.clamp_min(0)),
                              c.b.teacher_weight.to(at::kDouble).t());                              // (N, Vt)
  const at::Tensor counted = c.b.labels.ne(-100).to(at::kDouble);
  const at::Tensor n = counted.sum();
  const at::Tensor ce_rows = -at::log_softmax(s, -1).gather(1, c.b.labels.clamp_min(0).unsqueeze(1)).squeeze(1);
  const at::Tensor ls = at::log_softmax(s.index_select(1, c.shared_s) / T, -1);
  const at::Tensor lt = at::log_softmax(t.index_select(1, c.shared_t) / T, -1);
  const at::Tensor kl = (lt.exp() * (lt - ls)).sum(-1);
  const at::Tensor uld = uld_direct(s, t, T);
  const at::Tensor aligned = c.rows.ge(0);
  const at::Tensor kd_rows =
      at::where(aligned.logical_and(c.exact), kl, at::where(aligned, uld, at::zeros_like(uld))) * counted;
  RefOut r;
  r.kd = kd_rows.sum() / n * (T * T);
  r.ce = (ce_rows * counted).sum() / n;
  r.loss = r.kd * alpha + r.ce * (1.0 - alpha);
  const auto grads = torch::autograd::grad({r.loss}, {hs, ws});
  r.grad_hidden = grads[0];
  r.grad_weight = grads[1];
  return r;
}

TEST(LossAligned, MatchesTheDirectLossAtEveryChunkSize) {
  const AlignedCase c = make_case(13, 9, 11, 17, 3);
  ASSERT_GT(c.rows.ge(0).logical_and(c.exact.logical_not()).sum().item<std::int64_t>(), 1);  // some ULD rows
  ASSERT_GT(c.rows.ge(0).logical_and(c.exact).sum().item<std::int64_t>(), 1);                // some exact rows
  const double T = 2.0, alpha = 0.6;
  const RefOut ref = reference(c, T, alpha);
  // The ULD rows as the trainer passes them: a list in any order, padded with -1 (here reversed,
  // three -1s); and left out (found by the loss itself).
  const at::Tensor needs_uld = c.rows.ge(0).logical_and(c.exact.logical_not()).nonzero().reshape({-1}).flip({0});
  const at::Tensor listed = at::cat({needs_uld, at::full({3}, -1, at::kLong)});
  for (const std::int64_t chunk : {1, 4, 13, 100})
  for (const bool with_list : {true, false}) {
    SCOPED_TRACE(std::to_string(chunk) + (with_list ? " listed" : " found"));
    loss::KdLossOptions o;
    o.temperature = T;
    o.alpha = alpha;
    o.chunk_tokens = chunk;
    const at::Tensor hs = c.b.student_hidden.clone().set_requires_grad(true);
    const at::Tensor ws = c.b.student_weight.clone().set_requires_grad(true);
    const loss::KdLossOutput out = loss::aligned_linear_kd_loss(
        {hs, ws}, {c.b.teacher_hidden, c.b.teacher_weight},
        {c.rows, c.exact, c.shared_s, c.shared_t, with_list ? listed : at::Tensor()}, c.b.labels, o);
    EXPECT_NEAR(out.kd_loss.item<double>(), ref.kd.item<double>(), 1e-5);
    EXPECT_NEAR(out.ce_loss.item<double>(), ref.ce.item<double>(), 1e-5);
    EXPECT_NEAR(out.loss.item<double>(), ref.loss.item<double>(), 1e-5);
    EXPECT_EQ(out.tokens.item<std::int64_t>(), c.b.labels.ne(-100).sum().item<std::int64_t>());
    out.loss.backward();
    EXPECT_TRUE(at::allclose(hs.grad().to(at::kDouble), ref.grad_hidden, 1e-4, 1e-6));
    EXPECT_TRUE(at::allclose(ws.grad().to(at::kDouble), ref.grad_weight, 1e-4, 1e-6));
  }
}

// The entropies are monitoring only: computed when asked (the steps the trainer logs), to the
// direct formula (teacher over its aligned counted rows, student over counted rows, per counted
// token), and leaving them out changes nothing else.
TEST(LossAligned, EntropiesOnlyWhenAskedAndNothingElseChanges) {
  const AlignedCase c = make_case(13, 9, 11, 17, 4);
  loss::KdLossOptions o;
  o.temperature = 2.0;
  o.alpha = 0.6;
  o.chunk_tokens = 5;
  const auto run = [&](bool entropies, at::Tensor* grad_w) {
    loss::KdLossOptions oo = o;
    oo.entropies = entropies;
    const at::Tensor ws = c.b.student_weight.clone().set_requires_grad(true);
    loss::KdLossOutput out = loss::aligned_linear_kd_loss({c.b.student_hidden, ws}, {c.b.teacher_hidden, c.b.teacher_weight},
                                                          {c.rows, c.exact, c.shared_s, c.shared_t}, c.b.labels, oo);
    out.loss.backward();
    *grad_w = ws.grad();
    return out;
  };
  at::Tensor g_on, g_off;
  const loss::KdLossOutput on = run(true, &g_on), off = run(false, &g_off);
  EXPECT_EQ(on.loss.item<double>(), off.loss.item<double>());
  EXPECT_EQ(on.kd_loss.item<double>(), off.kd_loss.item<double>());
  EXPECT_EQ(on.ce_loss.item<double>(), off.ce_loss.item<double>());
  EXPECT_TRUE(at::equal(g_on, g_off));
  EXPECT_EQ(off.teacher_entropy.item<double>(), 0.0);
  EXPECT_EQ(off.student_entropy.item<double>(), 0.0);

  const auto entropy = [](const at::Tensor& logits) {
    const at::Tensor lp = at::log_softmax(logits.to(at::kDouble), -1);
    return -(lp.exp() * lp).sum(-1);
  };
  const at::Tensor counted = c.b.labels.ne(-100).to(at::kDouble);
  const at::Tensor s = at::mm(c.b.student_hidden, c.b.student_weight.t());
  const at::Tensor t = at::mm(c.b.teacher_hidden.index_select(0, c.rows.clamp_min(0)), c.b.teacher_weight.t());
  const double n = counted.sum().item<double>();
  const double want_t = (entropy(t) * counted * c.rows.ge(0).to(at::kDouble)).sum().item<double>() / n;
  const double want_s = (entropy(s) * counted).sum().item<double>() / n;
  EXPECT_NEAR(on.teacher_entropy.item<double>(), want_t, 1e-5);
  EXPECT_NEAR(on.student_entropy.item<double>(), want_s, 1e-5);
  EXPECT_GT(want_t, 0.1);
}

TEST(LossAligned, WithoutAlignedRowsIsPlainCrossEntropy) {
  AlignedCase c = make_case(8, 5, 7, 9, 5);
  c.rows.fill_(-1);
  loss::KdLossOptions o;
  o.alpha = 0.5;
  const auto out = loss::aligned_linear_kd_loss({c.b.student_hidden, c.b.student_weight},
                                                {c.b.teacher_hidden, c.b.teacher_weight},
                                                {c.rows, c.exact, c.shared_s, c.shared_t}, c.b.labels, o);
  loss::KdLossOptions ce = o;
  ce.kind = loss::LossKind::kCE;
  const auto plain = loss::fused_linear_kd_loss({c.b.student_hidden, c.b.student_weight}, {}, c.b.labels, ce);
  EXPECT_EQ(out.kd_loss.item<double>(), 0.0);
  EXPECT_NEAR(out.ce_loss.item<double>(), plain.ce_loss.item<double>(), 1e-6);
}

}  // namespace
}  // namespace distill
