// Per-chunk loss math: forward/reverse KL, normalised generalised JSD and CE on fp32 logits, with
// their gradients w.r.t. the student's logits written out by hand (docs/loss.md lists them).
#include "divergence.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

namespace distill::loss::detail {

namespace {

// (n, V) log-probabilities -> (n) entropies, -sum p log p.
at::Tensor entropy_rows(const at::Tensor& logp) { return logp.exp().mul_(logp).sum(-1).neg_(); }

// KL(p || q), p = teacher, q = student. d/dz = q - p.
Divergence forward_kl(const at::Tensor& ls, const at::Tensor& lt, bool with_grad) {
  const at::Tensor p = lt.exp();
  Divergence d;
  d.per_row = (lt - ls).mul_(p).sum(-1);
  if (with_grad) d.grad = ls.exp().sub_(p);
  return d;
}

// KL(q || p). With r = log q - log p: d/dz_i = q_i * (r_i - KL).
Divergence reverse_kl(const at::Tensor& ls, const at::Tensor& lt, bool with_grad) {
  const at::Tensor q = ls.exp();
  at::Tensor r = ls - lt;
  Divergence d;
  d.per_row = (q * r).sum(-1);
  if (with_grad) d.grad = r.sub_(d.per_row.unsqueeze(1)).mul_(q);
  return d;
}

// m = beta p + (1 - beta) q; D = [beta KL(p || m) + (1 - beta) KL(q || m)] / (beta (1 - beta))
//   = KL(p || m) / (1 - beta) + KL(q || m) / beta.
// With h = log q - log m: d/dz_i = q_i * (h_i - KL(q || m)) / beta.
// Near beta = 0 (1) the terms log m - log q (log m - log p) are tiny, and so is what they add up to,
// so each is formed from d = log p - log q by one softplus (log1p(exp(x))): never as a difference of
// two log-probabilities, which fp32 holds to ~1e-6 only, nor with at::logaddexp, whose log(1 + x)
// rounds a tiny x away.
//   log m - log p = log(beta + (1 - beta) q/p) = log beta + softplus(c - d)
//   log m - log q = log(beta p/q + 1 - beta)   = log(1 - beta) + softplus(d - c),  c = log((1 - beta) / beta)
Divergence jsd(double beta, const at::Tensor& ls, const at::Tensor& lt, bool with_grad) {
  const double log_beta = std::log(beta), log_1m_beta = std::log1p(-beta), c = log_1m_beta - log_beta;
  at::Tensor d = lt - ls;  // (n, V)
  at::Tensor kl_p_m;       // (n)
  {
    at::Tensor m_p = at::softplus(d.neg().add_(c)).add_(log_beta);
    kl_p_m = m_p.mul_(lt.exp()).sum(-1).neg_();
  }
  at::Tensor m_q = at::softplus(d.sub_(c)).add_(log_1m_beta);
  d.reset();
  const at::Tensor q = ls.exp();
  const at::Tensor kl_q_m = (q * m_q).sum(-1).neg_();
  Divergence out;
  out.per_row = kl_p_m / (1.0 - beta) + kl_q_m / beta;
  if (with_grad) out.grad = m_q.add_(kl_q_m.unsqueeze(1)).mul_(q).div_(-beta);  // q (h - KL(q || m)) / beta, h = -m_q
  return out;
}

}  // namespace

Divergence divergence(LossKind kind, double beta, const at::Tensor& student_logp, const at::Tensor& teacher_logp,
                      bool with_grad) {
  if (kind == LossKind::kJSD && beta == 0.0) kind = LossKind::kForwardKL;  // the limits, exactly
  if (kind == LossKind::kJSD && beta == 1.0) kind = LossKind::kReverseKL;
  switch (kind) {
    case LossKind::kForwardKL: return forward_kl(student_logp, teacher_logp, with_grad);
    case LossKind::kReverseKL: return reverse_kl(student_logp, teacher_logp, with_grad);
    case LossKind::kJSD: return jsd(beta, student_logp, teacher_logp, with_grad);
    case LossKind::kCE: break;
  }
  return {};
}

ChunkSums chunk_loss(at::Tensor student_logits, at::Tensor teacher_logits, const at::Tensor& labels,
                     const KdLossOptions& options, bool with_grad) {
  const std::int64_t n = student_logits.size(0), vs = student_logits.size(1);
  const auto fp32 = student_logits.options();
  const double T = options.temperature;
  const bool with_teacher = teacher_logits.defined() && options.kind != LossKind::kCE;
  const double alpha = options.kind == LossKind::kCE ? 0.0 : options.alpha;
  const at::Tensor ignored = labels.eq(options.ignore_index);  // (n) bool
  const auto counted_sum = [&](const at::Tensor& rows) { return rows.masked_fill(ignored, 0.0).sum(); };
  ChunkSums sums;
  sums.kd = at::zeros({}, fp32);
  sums.teacher_entropy = at::zeros({}, fp32);

  // Inputs are released as soon as they are used: each (n, V) buffer is large.
  std::int64_t v = vs;  // the shared vocabulary
  at::Tensor lt;        // (n, v) teacher log-probabilities at T
  if (with_teacher) {
    const std::int64_t vt = teacher_logits.size(1);
    v = std::min(vs, vt);
    const bool whole = T == 1.0 && v == vt;
    lt = (whole ? teacher_logits : teacher_logits.narrow(1, 0, v) / T).log_softmax(-1);
    if (options.entropies) sums.teacher_entropy = counted_sum(entropy_rows(whole ? lt : teacher_logits.log_softmax(-1)));
    teacher_logits.reset();
  }

  // The student at T = 1 over its whole vocabulary: CE and entropy.
  at::Tensor ls1 = student_logits.log_softmax(-1);                              // (n, Vs)
  const at::Tensor safe_labels = labels.masked_fill(ignored, 0).unsqueeze(1);  // (n, 1)
  sums.ce = counted_sum(-ls1.gather(1, safe_labels).squeeze(1));
  sums.student_entropy = options.entropies ? counted_sum(entropy_rows(ls1)) : at::zeros({}, fp32);

  Divergence div;
  if (with_teacher) {
    const bool whole = T == 1.0 && v == vs;
    at::Tensor ls = whole ? ls1 : (student_logits.narrow(1, 0, v) / T).log_softmax(-1);  // (n, v)
    student_logits.reset();
    div = divergence(options.kind, options.beta, ls, lt, with_grad && alpha > 0.0);
    sums.kd = counted_sum(div.per_row);
  }
  student_logits.reset();
  lt.reset();
  if (!with_grad) return sums;

  // d/ds [(1 - alpha) CE] = (1 - alpha) (softmax(s) - onehot(label)); d/ds [alpha T^2 D] = alpha T dD/dz.
  at::Tensor grad;  // (n, Vs)
  if (alpha < 1.0) {
    grad = ls1.exp_().mul_(1.0 - alpha);  // in place: ls1 is not needed any more
    grad.scatter_add_(1, safe_labels, at::full({n, 1}, -(1.0 - alpha), fp32));
  } else {
    grad = at::zeros({n, vs}, fp32);
  }
  if (div.grad.defined()) grad.narrow(1, 0, v).add_(div.grad, alpha * T);
  grad.masked_fill_(ignored.unsqueeze(1), 0.0);
  sums.grad_logits = grad;
  return sums;
}

}  // namespace distill::loss::detail
