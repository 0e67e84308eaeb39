// Cross-tokenizer math: per chunk the shared-vocabulary divergence on exact rows and CE on every
// counted row; the ULD distance on the other aligned rows in a pass of its own over those rows,
// given as a list of indices. Gradients w.r.t. the student by hand. Rows are selected by masks or by
// index lists whose length the host knows: nothing waits for the device.
#include <ATen/ATen.h>

#include <algorithm>
#include <tuple>

#include "distill/loss/aligned_kd.h"
#include "divergence.h"

namespace distill::loss {

UldResult uld_distance(const at::Tensor& student_logits, const at::Tensor& teacher_logits, double temperature,
                       bool with_grad) {
  const std::int64_t n = student_logits.size(0), vs = student_logits.size(1), vt = teacher_logits.size(1);
  const std::int64_t k = std::min(vs, vt);
  const at::Tensor q = (student_logits / temperature).softmax(-1);  // (n, Vs)
  at::Tensor qs, order;                                             // (n, Vs) sorted, descending
  std::tie(qs, order) = at::sort(q, -1, /*descending=*/true);
  at::Tensor ps = std::get<0>(at::sort((teacher_logits / temperature).softmax(-1), -1, true));  // (n, Vt)
  const at::Tensor diff = qs.narrow(1, 0, k) - ps.narrow(1, 0, k);                              // (n, k)
  UldResult r;
  r.per_row = diff.abs().sum(-1);
  // Past the shorter vocabulary the other side is compared with zeros.
  if (vs > k) r.per_row.add_(qs.narrow(1, k, vs - k).sum(-1));
  if (vt > k) r.per_row.add_(ps.narrow(1, k, vt - k).sum(-1));
  ps.reset();
  if (!with_grad) return r;
  // d/dq_sorted = sign(q_sorted - p_sorted) (+1 against the zero padding), back to vocabulary order,
  // then through the softmax: d/dz_i = q_i (g_i - sum_j q_j g_j).
  at::Tensor g_sorted = at::ones({n, vs}, q.options());
  g_sorted.narrow(1, 0, k).copy_(diff.sign());
  const at::Tensor g = at::empty_like(q).scatter_(1, order, g_sorted);
  r.grad = q * (g - (q * g).sum(-1, /*keepdim=*/true));
  return r;
}

namespace detail {

ChunkSums aligned_chunk_loss(at::Tensor student_logits, at::Tensor teacher_shared, at::Tensor teacher_full,
                             const at::Tensor& labels, const at::Tensor& aligned, const at::Tensor& exact,
                             const at::Tensor& shared_student, const KdLossOptions& options, bool with_grad) {
  const std::int64_t n = student_logits.size(0);
  const auto fp32 = student_logits.options();
  const double T = options.temperature;
  const double alpha = options.alpha;
  const at::Tensor counted = labels.ne(options.ignore_index);     // (n) bool
  const at::Tensor exact_rows = exact.logical_and(aligned).logical_and(counted);
  const at::Tensor teacher_rows = aligned.logical_and(counted);
  const auto masked_sum = [](const at::Tensor& per_row, const at::Tensor& keep) {
    return per_row.masked_fill(keep.logical_not(), 0.0).sum();
  };
  const bool kd_grad = with_grad && alpha > 0.0;
  ChunkSums sums;

  // The entropies are for the log only (options.entropies on the steps the trainer logs): the
  // teacher's is a whole pass of its own over the teacher's vocabulary.
  sums.teacher_entropy = at::zeros({}, fp32);
  if (options.entropies) {
    const at::Tensor lt1 = teacher_full.log_softmax(-1);  // (n, Vt), T = 1
    sums.teacher_entropy = masked_sum(lt1.exp().mul_(lt1).sum(-1).neg_(), teacher_rows);
    teacher_full.reset();
  }
  // The shared vocabulary at T: both sides' softmax over the same strings. Columns are picked by
  // gather (index_select along dimension 1 is slow on the CPU).
  const at::Tensor shared_cols = shared_student.unsqueeze(0).expand({n, shared_student.size(0)});  // (n, K)
  const at::Tensor ls_shared = (student_logits.gather(1, shared_cols) / T).log_softmax(-1);         // (n, K)
  const at::Tensor lt_shared = (teacher_shared / T).log_softmax(-1);                                // (n, K)
  teacher_shared.reset();
  Divergence div = divergence(options.kind, options.beta, ls_shared, lt_shared, kd_grad);
  sums.kd = masked_sum(div.per_row, exact_rows);

  at::Tensor ls1 = student_logits.log_softmax(-1);  // (n, Vs), T = 1
  student_logits.reset();
  const at::Tensor ignored = counted.logical_not();
  const at::Tensor safe_labels = labels.masked_fill(ignored, 0).unsqueeze(1);  // (n, 1)
  sums.ce = masked_sum(-ls1.gather(1, safe_labels).squeeze(1), counted);
  sums.student_entropy = options.entropies ? masked_sum(ls1.exp().mul(ls1).sum(-1).neg_(), counted) : at::zeros({}, fp32);
  if (!with_grad) return sums;

  // d/ds [(1 - alpha) CE] = (1 - alpha)(softmax(s) - onehot); d/ds [alpha T^2 D] = alpha T dD/dz.
  at::Tensor grad = ls1.exp_().mul_(1.0 - alpha);  // (n, Vs)
  grad.scatter_add_(1, safe_labels, at::full({n, 1}, -(1.0 - alpha), fp32));
  // The shared ids are distinct: adding along them is a scatter (index_add_ along dimension 1 is
  // slow on the CPU).
  if (kd_grad) grad.scatter_add_(1, shared_cols, div.grad.mul_(exact_rows.unsqueeze(1)).mul_(alpha * T));
  grad.masked_fill_(ignored.unsqueeze(1), 0.0);
  sums.grad_logits = grad;
  return sums;
}

at::Tensor uld_pass(const UldInputs& in, const KdLossOptions& options, at::Tensor& grad_hidden,
                    at::Tensor& grad_weight) {
  const auto fp32 = in.student_hidden.options().dtype(at::kFloat);
  at::Tensor total = at::zeros({}, fp32);
  const std::int64_t m_rows = in.uld_rows.size(0);
  const double T = options.temperature, alpha = options.alpha;
  const bool with_grad = (grad_hidden.defined() || grad_weight.defined()) && alpha > 0.0;
  for (std::int64_t start = 0; start < m_rows; start += options.chunk_tokens) {
    const std::int64_t m = std::min(options.chunk_tokens, m_rows - start);
    const at::Tensor idx = in.uld_rows.narrow(0, start, m);  // (m)
    const at::Tensor safe = idx.clamp_min(0);
    const at::Tensor t_rows = in.teacher_rows.index_select(0, safe);  // (m)
    const at::Tensor keep = idx.ge(0)
                                .logical_and(in.labels.index_select(0, safe).ne(options.ignore_index))
                                .logical_and(t_rows.ge(0))
                                .logical_and(in.exact.index_select(0, safe).logical_not());  // (m) bool
    const at::Tensor h = in.student_hidden.index_select(0, safe);                             // (m, Es)
    const at::Tensor s = at::mm(h, in.student_weight.t()).to(at::kFloat);                    // (m, Vs)
    const at::Tensor t =
        at::mm(in.teacher_hidden.index_select(0, t_rows.clamp_min(0)), in.teacher_weight.t()).to(at::kFloat);
    UldResult uld = uld_distance(s, t, T, with_grad);
    total.add_(uld.per_row.masked_fill(keep.logical_not(), 0.0).sum());
    if (!with_grad) continue;
    const at::Tensor g = uld.grad.mul_(keep.unsqueeze(1)).mul_(alpha * T).to(h.scalar_type());  // (m, Vs)
    if (grad_hidden.defined()) grad_hidden.index_add_(0, safe, at::mm(g, in.student_weight).to(at::kFloat));
    if (grad_weight.defined()) grad_weight.add_(at::mm(g.t(), h).to(at::kFloat));
  }
  return total;
}

}  // namespace detail
}  // namespace distill::loss
