// GPU machine only (label "gpu"): the fused distillation loss on CUDA at Qwen's vocabulary sizes,
// bf16 and fp32, against the direct formula; its memory stays per chunk.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>

#include "distill/loss/kd_loss.h"
#include "distill/util/cuda_memory.h"
#include "loss_reference.h"
#include "model_fixtures.h"

namespace distill {
namespace {

using loss::KdLossOptions;
using loss::LossKind;
using testing::LossBatch;
using testing::max_rel_error;

// Qwen2.5-0.5B student (E 896, V 151936), Qwen2.5-7B-sized teacher head (E 3584, V 152064);
// weights scaled so that logits have a standard deviation of about 3.
LossBatch qwen_batch(std::int64_t n, at::ScalarType dtype) {
  at::manual_seed(5);
  const auto opts = at::TensorOptions(at::kCUDA).dtype(at::kFloat);
  LossBatch b;
  b.student_hidden = at::randn({n, 896}, opts).to(dtype);
  b.student_weight = (at::randn({151936, 896}, opts) * (3.0 / std::sqrt(896.0))).to(dtype);
  b.teacher_hidden = at::randn({n, 3584}, opts).to(dtype);
  b.teacher_weight = (at::randn({152064, 3584}, opts) * (3.0 / std::sqrt(3584.0))).to(dtype);
  b.labels = at::randint(0, 151936, {n}, opts.dtype(at::kLong));
  b.labels.narrow(0, 0, n / 8).fill_(-100);
  return b;
}

KdLossOptions options(LossKind kind, std::int64_t chunk) {
  KdLossOptions o;
  o.kind = kind;
  o.temperature = 2.0;
  o.alpha = 0.5;
  o.beta = 0.5;
  o.chunk_tokens = chunk;
  return o;
}

TEST(LossCuda, Fp32AndBf16MatchTheFormula) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    const LossBatch batch = qwen_batch(512, dtype);
    const double tol = dtype == at::kFloat ? 1e-4 : 3e-2;
    for (LossKind kind : {LossKind::kForwardKL, LossKind::kReverseKL, LossKind::kJSD}) {
      const auto o = options(kind, 200);
      const auto r = testing::fused_loss(batch, o);
      const auto e = testing::reference_loss(batch, o);
      const char* what = loss::to_string(kind);
      EXPECT_LT(max_rel_error(r.loss, e.loss), tol) << what << " " << dtype;
      EXPECT_LT(max_rel_error(r.kd_loss, e.kd_loss), tol) << what << " " << dtype;
      EXPECT_LT(max_rel_error(r.ce_loss, e.ce_loss), tol) << what << " " << dtype;
      EXPECT_LT(max_rel_error(r.teacher_entropy, e.teacher_entropy), tol) << what << " " << dtype;
      EXPECT_LT(max_rel_error(r.grad_hidden, e.grad_hidden), tol) << what << " " << dtype;
      EXPECT_LT(max_rel_error(r.grad_weight, e.grad_weight), tol) << what << " " << dtype;
    }
  }
}

// Forward and backward of 8192 tokens (micro_batch 4 x 2048) in chunks of 512 need less than one fp32
// (N, V) logits tensor (5 GB) beyond the inputs and their gradients: about six fp32 chunk buffers
// (6 x 0.29 GB), the saved fp32 gradients and a bf16 copy of the head.
TEST(LossCuda, MemoryIsPerChunk) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  const c10::Device device(at::kCUDA, 0);
  const std::int64_t n = 8192, chunk = 512;
  const LossBatch b = qwen_batch(n, at::kBFloat16);
  const at::Tensor h = b.student_hidden.clone().requires_grad_(true);
  const at::Tensor w = b.student_weight.to(at::kFloat).requires_grad_(true);  // fp32 master weights
  device_synchronize(device);
  cuda_reset_peak(device);
  std::int64_t live = 0;
  for (const at::Tensor& t : {b.student_hidden, b.student_weight, b.teacher_hidden, b.teacher_weight, b.labels, h, w}) {
    live += t.numel() * static_cast<std::int64_t>(t.element_size());
  }
  {
    const auto out = loss::fused_linear_kd_loss({h, w}, {b.teacher_hidden, b.teacher_weight}, b.labels,
                                                options(LossKind::kForwardKL, chunk));
    out.loss.backward();
  }
  device_synchronize(device);
  const std::int64_t grads = h.numel() * 2 + w.numel() * 4;
  const std::int64_t extra = cuda_peak_allocated_bytes(device) - live - grads;
  const std::int64_t full_logits = n * 152064 * 4;
  const std::int64_t one_chunk = chunk * 152064 * 4;
  std::printf("loss peak beyond inputs and grads: %.2f GiB (one fp32 chunk of logits %.2f GiB, full logits %.2f GiB)\n",
              extra / 1073741824.0, one_chunk / 1073741824.0, full_logits / 1073741824.0);
  EXPECT_LT(extra, full_logits);
}

}  // namespace
}  // namespace distill
