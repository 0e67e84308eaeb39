// The LibTorch side of the fused per-row kernel (kd_rows.h): when it applies, and the call that
// turns one chunk's logits into detail::ChunkSums like detail::chunk_loss does.
#include <ATen/ATen.h>

#include <string>

#include "divergence.h"
#include "distill/util/errors.h"
#include "kd_rows.h"

#if DISTILL_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace distill::loss::detail {

#if DISTILL_WITH_CUDA
namespace {

bool forward_kl_like(const KdLossOptions& o) {
  return o.kind == LossKind::kForwardKL || (o.kind == LossKind::kJSD && o.beta == 0.0);
}

bool kernel_type(at::ScalarType t, kernels::LogitType* out) {
  switch (t) {
    case at::kFloat: *out = kernels::LogitType::kFloat32; return true;
    case at::kBFloat16: *out = kernels::LogitType::kBFloat16; return true;
    case at::kHalf: *out = kernels::LogitType::kFloat16; return true;
    default: return false;
  }
}

}  // namespace
#endif

bool fused_chunk_applies(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                         const KdLossOptions& options) {
#if DISTILL_WITH_CUDA
  kernels::LogitType type{};
  if (!options.fused_kernel || !student_logits.is_cuda() || student_logits.dim() != 2) return false;
  if (!kernel_type(student_logits.scalar_type(), &type)) return false;
  const bool with_teacher = teacher_logits.defined() && options.kind != LossKind::kCE;
  if (!with_teacher) return true;
  return forward_kl_like(options) && teacher_logits.is_cuda() && teacher_logits.dim() == 2 &&
         teacher_logits.scalar_type() == student_logits.scalar_type() &&
         teacher_logits.device() == student_logits.device();
#else
  (void)student_logits;
  (void)teacher_logits;
  (void)options;
  return false;
#endif
}

ChunkSums fused_chunk_loss(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                           const at::Tensor& labels, const KdLossOptions& options, bool with_grad) {
#if DISTILL_WITH_CUDA
  const std::int64_t n = student_logits.size(0), vs = student_logits.size(1);
  const bool with_teacher = teacher_logits.defined() && options.kind != LossKind::kCE;
  const at::Tensor s = student_logits.stride(1) == 1 ? student_logits : student_logits.contiguous();
  const at::Tensor t = with_teacher && teacher_logits.stride(1) != 1 ? teacher_logits.contiguous() : teacher_logits;
  const at::Tensor l = labels.contiguous();
  const c10::cuda::CUDAGuard guard(s.device());
  const auto fp32 = s.options().dtype(at::kFloat);
  at::Tensor stats = at::empty({n, 4}, fp32);
  ChunkSums sums;
  if (with_grad) sums.grad_logits = at::empty({n, vs}, s.options());

  kernels::KdRowsArgs a;
  kernel_type(s.scalar_type(), &a.type);
  a.student = s.data_ptr();
  a.vs = vs;
  a.student_stride = s.stride(0);
  if (with_teacher) {
    a.teacher = t.data_ptr();
    a.vt = t.size(1);
    a.teacher_stride = t.stride(0);
  }
  a.labels = l.data_ptr<std::int64_t>();
  a.ignore_index = options.ignore_index;
  a.rows = n;
  a.temperature = static_cast<float>(options.temperature);
  a.alpha = static_cast<float>(options.kind == LossKind::kCE ? 0.0 : options.alpha);
  a.entropies = options.entropies;
  a.grad = with_grad ? sums.grad_logits.data_ptr() : nullptr;
  a.row_stats = stats.data_ptr<float>();
  if (const char* err = kernels::launch_kd_rows(a, c10::cuda::getCurrentCUDAStream(s.device().index()).stream())) {
    throw Error(ExitCode::kInternal, std::string("fused_linear_kd_loss: the CUDA loss kernel failed: ") + err);
  }
  const at::Tensor totals = stats.sum(0);  // (4)
  sums.kd = totals.select(0, 0);
  sums.ce = totals.select(0, 1);
  sums.teacher_entropy = totals.select(0, 2);
  sums.student_entropy = totals.select(0, 3);
  return sums;
#else
  (void)student_logits;
  (void)teacher_logits;
  (void)labels;
  (void)options;
  (void)with_grad;
  throw Error(ExitCode::kInternal, "fused_linear_kd_loss: the CUDA loss kernel is not built in");
#endif
}

}  // namespace distill::loss::detail
