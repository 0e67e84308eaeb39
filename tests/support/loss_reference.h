// The distillation loss written directly with plain PyTorch ops on full logits, in fp64, with
// autograd for the gradients: the independent reference the fused, chunked loss is checked against.
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "distill/loss/kd_loss.h"

namespace distill::testing {

// A random batch: student and teacher hidden states and heads, labels with some ignored.
struct LossBatch {
  at::Tensor student_hidden;  // (N, Es)
  at::Tensor student_weight;  // (Vs, Es)
  at::Tensor teacher_hidden;  // (N, Et)
  at::Tensor teacher_weight;  // (Vt, Et)
  at::Tensor labels;          // (N) int64; every 4th is -100
};

inline LossBatch make_loss_batch(std::int64_t n, std::int64_t es, std::int64_t et, std::int64_t vs, std::int64_t vt,
                                 std::uint64_t seed, const at::TensorOptions& options = at::kFloat) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const auto randn = [&](at::IntArrayRef sizes, double scale) {
    return (at::randn(sizes, gen, at::kFloat) * scale).to(options);
  };
  LossBatch b;
  b.student_hidden = randn({n, es}, 1.0);
  b.student_weight = randn({vs, es}, 0.6);
  b.teacher_hidden = randn({n, et}, 1.0);
  b.teacher_weight = randn({vt, et}, 0.6);
  const at::Tensor every_4th = at::arange(1, std::max<std::int64_t>(n, 1), 4);
  b.labels = at::randint(0, vs, {n}, gen, at::kLong).index_fill_(0, every_4th, -100).to(options.device());
  return b;
}

// Values and gradients; every tensor fp64 except tokens.
struct LossResult {
  at::Tensor loss, kd_loss, ce_loss, teacher_entropy, student_entropy, tokens;
  at::Tensor grad_hidden, grad_weight;  // undefined when not computed
};

// The reference: full (N, V) logits in fp64, the formulas of docs/loss.md, torch autograd.
// KL through at::kl_div, the JSD mixture through logsumexp (as TRL writes it), CE through nll_loss.
inline LossResult reference_loss(const LossBatch& b, const loss::KdLossOptions& o) {
  using loss::LossKind;
  const at::Tensor h = b.student_hidden.detach().to(at::kDouble).requires_grad_(true);
  const at::Tensor w = b.student_weight.detach().to(at::kDouble).requires_grad_(true);
  const at::Tensor s = at::mm(h, w.t());  // (N, Vs)
  const at::Tensor counted = b.labels.ne(-100);
  const at::Tensor tokens = counted.sum();
  const at::Tensor mask = counted.to(at::kDouble);
  const auto mean = [&](const at::Tensor& rows) { return (rows * mask).sum() / mask.sum(); };
  const auto entropy = [](const at::Tensor& logits) {
    return -(at::softmax(logits, -1) * at::log_softmax(logits, -1)).sum(-1);
  };
  const double T = o.temperature;
  const int64_t kNone = 0;  // at::Reduction::None

  LossResult r;
  r.tokens = tokens;
  r.ce_loss = at::nll_loss(at::log_softmax(s, -1), b.labels, {}, at::Reduction::Mean, -100);
  r.student_entropy = mean(entropy(s));
  r.kd_loss = at::zeros({}, s.options());
  r.teacher_entropy = at::zeros({}, s.options());
  if (o.kind != LossKind::kCE && b.teacher_hidden.defined()) {
    const at::Tensor t = at::mm(b.teacher_hidden.to(at::kDouble), b.teacher_weight.to(at::kDouble).t());
    const std::int64_t v = std::min(s.size(1), t.size(1));
    const at::Tensor lq = at::log_softmax(s.narrow(1, 0, v) / T, -1);  // student
    const at::Tensor lp = at::log_softmax(t.narrow(1, 0, v) / T, -1);  // teacher
    // kl_div(input, target, log_target) = exp(target) * (target - input): KL(target || input).
    const auto kl = [&](const at::Tensor& from, const at::Tensor& to) {
      return at::kl_div(to, from, kNone, /*log_target=*/true).sum(-1);
    };
    at::Tensor per_row;
    if (o.kind == LossKind::kForwardKL) {
      per_row = kl(lp, lq);
    } else if (o.kind == LossKind::kReverseKL) {
      per_row = kl(lq, lp);
    } else {
      const double beta = o.beta;
      const at::Tensor lm = at::logsumexp(at::stack({lq + std::log(1.0 - beta), lp + std::log(beta)}), 0);
      per_row = (kl(lp, lm) * beta + kl(lq, lm) * (1.0 - beta)) / (beta * (1.0 - beta));
    }
    r.kd_loss = mean(per_row) * (T * T);
    r.teacher_entropy = mean(entropy(t));
  }
  const double alpha = o.kind == LossKind::kCE ? 0.0 : o.alpha;
  r.loss = r.kd_loss * alpha + r.ce_loss * (1.0 - alpha);
  r.loss.backward();
  r.grad_hidden = h.grad();
  r.grad_weight = w.grad();
  for (at::Tensor* t : {&r.loss, &r.kd_loss, &r.ce_loss, &r.teacher_entropy, &r.student_entropy}) {
    *t = t->detach();
  }
  return r;
}

// The fused loss on copies of the batch's student tensors that require grad; backward from `loss`.
inline LossResult fused_loss(const LossBatch& b, const loss::KdLossOptions& o, bool with_teacher = true) {
  const at::Tensor h = b.student_hidden.detach().clone().requires_grad_(true);
  const at::Tensor w = b.student_weight.detach().clone().requires_grad_(true);
  loss::LmHead teacher;
  if (with_teacher) teacher = {b.teacher_hidden, b.teacher_weight};
  const loss::KdLossOutput out = loss::fused_linear_kd_loss({h, w}, teacher, b.labels, o);
  out.loss.backward();
  LossResult r{out.loss.detach(),      out.kd_loss,      out.ce_loss, out.teacher_entropy, out.student_entropy,
               out.tokens,             h.grad(),         w.grad()};
  return r;
}

}  // namespace distill::testing
