// The fused LM heads + loss: a loop over chunks of tokens that computes logits, loss sums and the
// gradients w.r.t. the student's hidden states and head, and an autograd Function that hands those
// gradients to backward. Full (N, V) logits never exist; memory is O(chunk_tokens * V).
#if defined(__GNUC__) && !defined(__clang__)
// g++ 13 reports false -Warray-bounds / -Wstringop-overflow warnings inside LibTorch's
// autograd::Function::apply (a vector<bool> copy in its headers, inlined here).
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/autograd.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <sstream>
#include <utility>

#include "distill/loss/aligned_kd.h"
#include "distill/loss/kd_loss.h"
#include "distill/util/errors.h"
#include "distill/util/logging.h"
#include "distill/util/mixed_gemm.h"
#include "distill/util/tuned_gemm.h"
#include "distill/util/weight_copies.h"
#include "divergence.h"

namespace distill::loss {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Flattened inputs: every tensor 2-D (rows = tokens) or 1-D (labels).
struct Inputs {
  at::Tensor student_hidden;  // (N, Es)
  at::Tensor student_weight;  // (Vs, Es)
  at::Tensor teacher_hidden;  // (N, Et), undefined when the teacher is not used
  at::Tensor teacher_weight;  // (Vt, Et)
  at::Tensor labels;          // (N) int64
  // loss.cross_tokenizer align (aligned_kd.h); undefined otherwise. teacher_hidden's rows are then
  // the teacher's own tokens, picked per student row by teacher_rows.
  at::Tensor teacher_rows;    // (N) int64, -1 = none
  at::Tensor exact;           // (N) bool
  at::Tensor uld_rows;        // (M) int64, -1 = padding
  at::Tensor shared_student, shared_teacher;  // (K) int64
};

struct Chunked {
  KdLossOutput out;
  at::Tensor grad_hidden;  // (N, Es) fp32, d loss / d student hidden; undefined unless asked
  at::Tensor grad_weight;  // (Vs, Es) fp32, d loss / d student weight; undefined unless asked
  // The gradients above are sums over tokens: times grad_scale (1 / counted tokens, ()) they are the
  // loss's. Left to backward, which multiplies by it and the upstream gradient in one pass.
  at::Tensor grad_scale;
};

[[noreturn]] void fail(const std::string& what) {
  throw Error(ExitCode::kInternal, "fused_linear_kd_loss: " + what);
}

std::string shape(const at::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

void check_head(const LmHead& head, const char* who, const at::Tensor& labels) {
  const at::Tensor& h = head.hidden;
  const at::Tensor& w = head.weight;
  if (!h.defined() || !w.defined()) fail(std::string(who) + " hidden states and head weight are required");
  if (h.dim() < 2 || w.dim() != 2 || h.size(-1) != w.size(1)) {
    fail(std::string(who) + " hidden " + shape(h) + " and head weight " + shape(w) + " do not match (N, E) / (V, E)");
  }
  if (!at::isFloatingType(h.scalar_type()) || !at::isFloatingType(w.scalar_type())) {
    fail(std::string(who) + " hidden states and head weight must be floating point");
  }
  if (h.numel() / h.size(-1) != labels.numel()) {
    fail(std::string(who) + " hidden " + shape(h) + " has a row count other than the labels' " + shape(labels));
  }
  if (h.device() != labels.device() || w.device() != labels.device()) {
    fail(std::string(who) + " tensors and labels are on different devices");
  }
}

// Once per process and (Vs, Vt) pair.
void log_vocab_difference(std::int64_t vs, std::int64_t vt) {
  static std::mutex mutex;
  static std::set<std::pair<std::int64_t, std::int64_t>> seen;
  std::lock_guard<std::mutex> lock(mutex);
  if (!seen.insert({vs, vt}).second) return;
  log::info("loss: student vocabulary {} and teacher vocabulary {} differ; the divergence compares the first {} "
            "tokens, the cross-entropy uses all {} of the student's",
            vs, vt, std::min(vs, vt), vs);
}

// The chunk loop. Gradients are summed over tokens in fp32 and divided by the number of counted
// tokens at the end; the matmuls get the per-token gradients (magnitude ~1) in the compute dtype,
// so fp16/bf16 do not underflow on 1/N.
Chunked run_chunks(const Inputs& in, const KdLossOptions& options, bool grad_hidden, bool grad_weight) {
  const at::Tensor& hs = in.student_hidden;
  const std::int64_t n_rows = hs.size(0), vs = in.student_weight.size(0);
  const bool with_teacher = in.teacher_hidden.defined();
  const bool with_grad = grad_hidden || grad_weight;
  const auto fp32 = hs.options().dtype(at::kFloat);
  const at::Tensor ws = weight_in(in.student_weight, hs.scalar_type());  // (Vs, Es) in the compute dtype
  const at::Tensor wt = with_teacher ? in.teacher_weight.to(in.teacher_hidden.scalar_type()) : at::Tensor();
  // Across tokenizers the divergence reads the teacher's logits at the shared vocabulary's ids
  // only: its head is multiplied by those rows of the weight (K of Vt), the whole head only for the
  // logged entropy.
  const at::Tensor wt_shared = in.teacher_rows.defined() ? wt.index_select(0, in.shared_teacher) : at::Tensor();

  Chunked r;
  at::Tensor kd = at::zeros({}, fp32), ce = at::zeros({}, fp32);
  at::Tensor teacher_entropy = at::zeros({}, fp32), student_entropy = at::zeros({}, fp32);
  if (grad_hidden) r.grad_hidden = at::empty({n_rows, hs.size(1)}, fp32);
  // Written by the first chunk's product (beta 0), summed into by the others.
  if (grad_weight) r.grad_weight = n_rows > 0 ? at::empty({vs, hs.size(1)}, fp32) : at::zeros({vs, hs.size(1)}, fp32);

  for (std::int64_t start = 0; start < n_rows; start += options.chunk_tokens) {
    const std::int64_t n = std::min(options.chunk_tokens, n_rows - start);
    const at::Tensor h = hs.narrow(0, start, n);                                  // (n, Es)
    at::Tensor s = linear_tuned_or_aten(h, ws, {});  // (n, Vs), compute dtype
    at::Tensor t;                       // (n, Vt)
    detail::ChunkSums sums;
    if (in.teacher_rows.defined()) {
      const at::Tensor rows = in.teacher_rows.narrow(0, start, n);                           // (n)
      const at::Tensor th = in.teacher_hidden.index_select(0, rows.clamp_min(0));            // (n, Et)
      const at::Tensor t_shared = at::mm(th, wt_shared.t()).to(at::kFloat);                  // (n, K)
      if (options.entropies) t = at::mm(th, wt.t()).to(at::kFloat);                          // (n, Vt)
      s = s.to(at::kFloat);
      sums = detail::aligned_chunk_loss(std::move(s), t_shared, std::move(t), in.labels.narrow(0, start, n),
                                        rows.ge(0), in.exact.narrow(0, start, n), in.shared_student, options,
                                        with_grad);
    } else {
      if (with_teacher) t = linear_tuned_or_aten(in.teacher_hidden.narrow(0, start, n), wt, {});
      const at::Tensor labels = in.labels.narrow(0, start, n);
      if (detail::fused_chunk_applies(s, t, options)) {
        sums = detail::fused_chunk_loss(s, t, labels, options, with_grad);  // the logits' dtype throughout
        s.reset();
        t.reset();
      } else {
        s = s.to(at::kFloat);
        if (t.defined()) t = t.to(at::kFloat);
        sums = detail::chunk_loss(std::move(s), std::move(t), labels, options, with_grad);
      }
    }
    kd.add_(sums.kd);
    ce.add_(sums.ce);
    teacher_entropy.add_(sums.teacher_entropy);
    student_entropy.add_(sums.student_entropy);
    if (!with_grad) continue;
    const at::Tensor g = sums.grad_logits.to(hs.scalar_type());  // (n, Vs)
    sums.grad_logits.reset();
    if (grad_hidden) {
      at::Tensor rows = r.grad_hidden.narrow(0, start, n);                  // (n, Es)
      if (!mm_into_fp32(rows, g, ws, 0.0f)) rows.copy_(at::mm(g, ws));
    }
    if (grad_weight) {
      // (Vs, Es): on CUDA one product that adds into the fp32 sum; else ATen's product, then the add.
      const bool first = start == 0;
      if (hs.scalar_type() == at::kFloat) {
        if (first) {
          at::mm_out(r.grad_weight, g.t(), h);
        } else {
          r.grad_weight.addmm_(g.t(), h);
        }
      } else if (!mm_into_fp32(r.grad_weight, g.t(), h, first ? 0.0f : 1.0f)) {
        if (first) {
          r.grad_weight.copy_(at::mm(g.t(), h));
        } else {
          r.grad_weight.add_(at::mm(g.t(), h));
        }
      }
    }
  }

  if (in.teacher_rows.defined() && in.uld_rows.numel() > 0) {
    kd.add_(detail::uld_pass({hs, ws, in.teacher_hidden, wt, in.teacher_rows, in.exact, in.labels, in.uld_rows}, options,
                             r.grad_hidden, r.grad_weight));
  }

  const at::Tensor tokens = in.labels.ne(options.ignore_index).sum();  // int64
  const at::Tensor inv_tokens = tokens.clamp_min(1).to(at::kFloat).reciprocal();
  const double T = options.temperature;
  const double alpha = options.kind == LossKind::kCE ? 0.0 : options.alpha;
  r.out.kd_loss = kd.mul_(inv_tokens).mul_(T * T);
  r.out.ce_loss = ce.mul_(inv_tokens);
  r.out.teacher_entropy = teacher_entropy.mul_(inv_tokens);
  r.out.student_entropy = student_entropy.mul_(inv_tokens);
  r.out.tokens = tokens;
  // The unused term is left out rather than multiplied by 0, so that it cannot turn the loss into NaN.
  if (alpha == 0.0) {
    r.out.loss = r.out.ce_loss.clone();
  } else if (alpha == 1.0) {
    r.out.loss = r.out.kd_loss.clone();
  } else {
    r.out.loss = r.out.kd_loss * alpha + r.out.ce_loss * (1.0 - alpha);
  }
  r.grad_scale = inv_tokens;
  return r;
}

// Everything the Function needs besides the student's two differentiable tensors; the teacher goes
// here, outside autograd, so it can never receive a gradient.
struct Extras {
  Inputs inputs;
  KdLossOptions options;
  bool grad_hidden = false, grad_weight = false;
  KdLossOutput* out = nullptr;  // receives the non-differentiable parts
};

class FusedLinearKd : public torch::autograd::Function<FusedLinearKd> {
 public:
  // hidden (N, Es), weight (Vs, Es) -> loss ()
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& hidden, const at::Tensor& weight,
                            const Extras& extras) {
    Chunked r = run_chunks(extras.inputs, extras.options, extras.grad_hidden, extras.grad_weight);
    if (r.grad_hidden.defined()) ctx->saved_data["grad_hidden"] = r.grad_hidden;
    if (r.grad_weight.defined()) ctx->saved_data["grad_weight"] = r.grad_weight;
    ctx->saved_data["grad_scale"] = r.grad_scale;
    ctx->saved_data["hidden_dtype"] = static_cast<std::int64_t>(hidden.scalar_type());
    ctx->saved_data["weight_dtype"] = static_cast<std::int64_t>(weight.scalar_type());
    *extras.out = r.out;
    return r.out.loss;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const at::Tensor& go = grad_out[0];  // ()
    // The sums over tokens are scaled in place (one pass over the (Vs, Es) fp32 head gradient), so
    // they serve one backward only.
    if (ctx->saved_data.count("consumed") != 0) {
      throw Error(ExitCode::kInternal, "the fused KD loss's backward ran twice on one forward",
                  "run the loss forward again for each backward");
    }
    ctx->saved_data["consumed"] = true;
    const at::Tensor scale = go.defined() ? ctx->saved_data["grad_scale"].toTensor() * go.to(at::kFloat) : at::Tensor();
    const auto scaled = [&](const char* key, const char* dtype_key) {
      auto it = ctx->saved_data.find(key);
      if (it == ctx->saved_data.end() || !go.defined()) return at::Tensor();
      const auto dtype = static_cast<at::ScalarType>(ctx->saved_data[dtype_key].toInt());
      // Taken out of the context, so that autograd holds the only reference: it can then keep the
      // tensor as the parameter's .grad (or add into it) instead of copying it first.
      at::Tensor sum = it->second.toTensor();
      ctx->saved_data.erase(it);
      return sum.mul_(scale).to(dtype);
    };
    return {scaled("grad_hidden", "hidden_dtype"), scaled("grad_weight", "weight_dtype"), at::Tensor()};
  }
};

// The autograd wrapper around run_chunks, shared by both entry points.
KdLossOutput run(Inputs in, const KdLossOptions& options);

}  // namespace

KdLossOutput fused_linear_kd_loss(const LmHead& student, const LmHead& teacher, const at::Tensor& labels,
                                  const KdLossOptions& options) {
  validate(options);
  if (!labels.defined() || labels.scalar_type() != at::kLong) fail("labels must be an int64 tensor");
  check_head(student, "student", labels);
  const bool use_teacher = options.kind != LossKind::kCE && teacher.hidden.defined();
  if (needs_teacher(options) && !use_teacher) {
    fail(std::string("loss.kind ") + to_string(options.kind) + " with alpha > 0 needs the teacher");
  }

  Inputs in;
  const std::int64_t es = student.hidden.size(-1);
  in.student_hidden = student.hidden.reshape({-1, es});
  in.student_weight = student.weight;
  in.labels = labels.reshape({-1});
  if (use_teacher) {
    check_head(teacher, "teacher", labels);
    in.teacher_hidden = teacher.hidden.detach().reshape({-1, teacher.hidden.size(-1)});
    in.teacher_weight = teacher.weight.detach();
    if (in.teacher_weight.size(0) != in.student_weight.size(0)) {
      log_vocab_difference(in.student_weight.size(0), in.teacher_weight.size(0));
    }
  }
  return run(std::move(in), options);
}

KdLossOutput aligned_linear_kd_loss(const LmHead& student, const LmHead& teacher, const TeacherAlignment& alignment,
                                    const at::Tensor& labels, const KdLossOptions& options) {
  validate(options);
  if (!labels.defined() || labels.scalar_type() != at::kLong) fail("labels must be an int64 tensor");
  check_head(student, "student", labels);
  if (!needs_teacher(options)) return fused_linear_kd_loss(student, {}, labels, options);
  const at::Tensor& th = teacher.hidden;
  if (!th.defined() || !teacher.weight.defined() || th.size(-1) != teacher.weight.size(1)) {
    fail("aligned: teacher hidden states and head weight are required and must match");
  }
  if (!alignment.rows.defined() || alignment.rows.numel() != labels.numel() || !alignment.exact.defined() ||
      alignment.exact.numel() != labels.numel() || alignment.shared_student.numel() != alignment.shared_teacher.numel() ||
      alignment.shared_student.numel() == 0) {
    fail("aligned: rows and exact need one entry per label and the shared vocabulary must not be empty");
  }
  Inputs in;
  in.student_hidden = student.hidden.reshape({-1, student.hidden.size(-1)});
  in.student_weight = student.weight;
  in.labels = labels.reshape({-1});
  in.teacher_hidden = th.detach().reshape({-1, th.size(-1)});
  in.teacher_weight = teacher.weight.detach();
  in.teacher_rows = alignment.rows.reshape({-1});
  in.exact = alignment.exact.reshape({-1}).to(at::kBool);
  // Without a list the rows are found here, which waits for the device once.
  in.uld_rows = alignment.uld_rows.defined()
                    ? alignment.uld_rows.reshape({-1})
                    : in.teacher_rows.ge(0).logical_and(in.exact.logical_not()).nonzero().reshape({-1});
  in.shared_student = alignment.shared_student;
  in.shared_teacher = alignment.shared_teacher;
  return run(std::move(in), options);
}

namespace {

KdLossOutput run(Inputs in, const KdLossOptions& options) {
  const bool grad_on = at::GradMode::is_enabled();
  const bool grad_hidden = grad_on && in.student_hidden.requires_grad();
  const bool grad_weight = grad_on && in.student_weight.requires_grad();
  if (!grad_hidden && !grad_weight) {
    at::NoGradGuard no_grad;
    return run_chunks(in, options, false, false).out;
  }

  KdLossOutput out;
  Extras extras{in, options, grad_hidden, grad_weight, &out};
  // The Function's inputs are the student's tensors themselves; its forward reads them from extras.
  extras.inputs.student_hidden = in.student_hidden.detach();
  extras.inputs.student_weight = in.student_weight.detach();
  at::Tensor loss = FusedLinearKd::apply(in.student_hidden, in.student_weight, extras);
  out.loss = loss;
  return out;
}

}  // namespace

}  // namespace distill::loss
