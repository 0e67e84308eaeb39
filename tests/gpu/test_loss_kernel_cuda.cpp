// GPU machine only (label "gpu"): the fused per-row CUDA loss kernel (src/loss/kd_rows.cu) against
// the fp64 reference (full logits, autograd) and against the ATen chunk path it replaces
// (KdLossOptions::fused_kernel = false), over the cases its code branches on: temperature 1 or not,
// alpha 0 / between / 1, entropies on or off, student and teacher vocabularies equal, either one
// larger, sizes that are not a multiple of the 16-byte pack (the scalar path), no teacher, fp32,
// bf16 and fp16 logits.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <sstream>
#include <string>

#include "distill/loss/kd_loss.h"
#include "../../src/loss/kd_rows.h"
#include "loss_reference.h"
#include "model_fixtures.h"

namespace distill {
namespace {

using loss::KdLossOptions;
using loss::LossKind;
using testing::LossBatch;
using testing::LossResult;
using testing::max_rel_error;

LossBatch cuda_batch(std::int64_t n, std::int64_t vs, std::int64_t vt, std::uint64_t seed, at::ScalarType dtype) {
  return testing::make_loss_batch(n, 40, 56, vs, vt, seed, at::TensorOptions(at::kCUDA).dtype(dtype));
}

std::string describe(std::int64_t vs, std::int64_t vt, const KdLossOptions& o) {
  std::ostringstream s;
  s << "vs " << vs << " vt " << vt << " kind " << loss::to_string(o.kind) << " T " << o.temperature << " alpha "
    << o.alpha << " entropies " << o.entropies;
  return s.str();
}

void expect_close(const LossResult& r, const LossResult& e, const KdLossOptions& o, double tol, const std::string& what) {
  EXPECT_LT(max_rel_error(r.loss, e.loss), tol) << what;
  EXPECT_LT(max_rel_error(r.ce_loss, e.ce_loss), tol) << what;
  if (o.kind != LossKind::kCE) {
    EXPECT_LT(max_rel_error(r.kd_loss, e.kd_loss), tol) << what;
  }
  if (o.entropies) {
    EXPECT_LT(max_rel_error(r.student_entropy, e.student_entropy), tol) << what;
    if (o.kind != LossKind::kCE) {
      EXPECT_LT(max_rel_error(r.teacher_entropy, e.teacher_entropy), tol) << what;
    }
  }
  EXPECT_LT(max_rel_error(r.grad_hidden, e.grad_hidden), tol) << what;
  EXPECT_LT(max_rel_error(r.grad_weight, e.grad_weight), tol) << what;
}

TEST(LossKernelCuda, Fp32MatchesTheFp64ReferenceInEveryBranch) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  std::uint64_t seed = 11;
  // (vs, vt): packed and equal; scalar (not a multiple of 4); teacher larger; student larger.
  for (const auto& [vs, vt] : {std::pair<std::int64_t, std::int64_t>{4096, 4096}, {1003, 1003}, {1000, 1200}, {1200, 1000}}) {
    for (const double T : {1.0, 2.0, 0.7}) {
      for (const double alpha : {0.0, 0.5, 1.0}) {
        for (const bool entropies : {true, false}) {
          const LossBatch b = cuda_batch(37, vs, vt, ++seed, at::kFloat);
          KdLossOptions o;
          o.kind = LossKind::kForwardKL;
          o.temperature = T;
          o.alpha = alpha;
          o.entropies = entropies;
          o.chunk_tokens = 16;  // three chunks, the last one short
          const std::string what = describe(vs, vt, o);
          const LossResult r = testing::fused_loss(b, o);
          expect_close(r, testing::reference_loss(b, o), o, 1e-4, what + " vs fp64");
          KdLossOptions aten = o;
          aten.fused_kernel = false;
          expect_close(r, testing::fused_loss(b, aten), o, 1e-4, what + " vs ATen");
        }
      }
    }
  }
}

TEST(LossKernelCuda, CeOnlyJsdAtBetaZeroAndNoTeacher) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  const LossBatch b = cuda_batch(29, 1000, 1000, 3, at::kFloat);
  KdLossOptions ce;
  ce.kind = LossKind::kCE;
  expect_close(testing::fused_loss(b, ce), testing::reference_loss(b, ce), ce, 1e-4, "ce with a teacher given");
  expect_close(testing::fused_loss(b, ce, /*with_teacher=*/false), testing::reference_loss(b, ce), ce, 1e-4,
               "ce without a teacher");
  KdLossOptions jsd0;
  jsd0.kind = LossKind::kJSD;
  jsd0.beta = 0.0;  // the forward-KL limit, which the kernel takes
  KdLossOptions fkl = jsd0;
  fkl.kind = LossKind::kForwardKL;
  expect_close(testing::fused_loss(b, jsd0), testing::reference_loss(b, fkl), jsd0, 1e-4, "jsd beta 0");
}

// bf16 and fp16 logits at Qwen's vocabulary sizes: against the ATen path on the same logits (the
// only differences: fp32 exp approximations, and the gradient rounded once from a value that may
// differ in the last fp32 bits) and against fp64 at the existing bf16 tolerance.
TEST(LossKernelCuda, HalfPrecisionAtQwenSizes) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  for (const at::ScalarType dtype : {at::kBFloat16, at::kHalf}) {
    const LossBatch b = cuda_batch(300, 151936, 152064, 7, dtype);
    KdLossOptions o;  // the defaults: forward KL, T 2, alpha 0.5
    o.chunk_tokens = 128;
    const std::string what = std::string(dtype == at::kHalf ? "fp16 " : "bf16 ") + describe(151936, 152064, o);
    const LossResult r = testing::fused_loss(b, o);
    KdLossOptions aten = o;
    aten.fused_kernel = false;
    expect_close(r, testing::fused_loss(b, aten), o, 1e-2, what + " vs ATen");
    expect_close(r, testing::reference_loss(b, o), o, 3e-2, what + " vs fp64");
  }
}

// The one-read kernel (a cluster of blocks per row holding it in shared memory; sm_90+) against the
// two-read kernel: bf16 at Qwen's sizes (4 blocks per row), fp32 (8 blocks), a vocabulary that
// fits one block, and rows too long for 8 blocks (both runs take the two-read kernel). Every 4th
// row is ignored. Statistics are summed in another order, so values agree to fp32 rounding and
// gradients to one unit of the logits' dtype; each against fp64 as in the tests above.
TEST(LossKernelCuda, OneReadClusterKernelAgreesWithTheTwoReadKernel) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  struct Case {
    std::int64_t rows, vs, vt;
    at::ScalarType dtype;
    double tol;
  };
  for (const Case& c : {Case{96, 151936, 152064, at::kBFloat16, 1e-2}, Case{64, 151936, 152064, at::kFloat, 1e-4},
                        Case{80, 32000, 32000, at::kBFloat16, 1e-2}, Case{8, 262144, 262144, at::kFloat, 1e-4}}) {
    for (const bool entropies : {false, true}) {
      const LossBatch b = cuda_batch(c.rows, c.vs, c.vt, 21, c.dtype);
      KdLossOptions o;  // forward KL, T 2, alpha 0.5
      o.entropies = entropies;
      o.chunk_tokens = 32;
      const std::string what = std::string(c.dtype == at::kFloat ? "fp32 " : "bf16 ") + describe(c.vs, c.vt, o);
      loss::kernels::set_kd_rows_cluster(true);
      const LossResult one_read = testing::fused_loss(b, o);
      loss::kernels::set_kd_rows_cluster(false);  // the default
      const LossResult two_reads = testing::fused_loss(b, o);
      expect_close(one_read, two_reads, o, c.tol, what + " one read vs two");
      if (c.dtype == at::kFloat) expect_close(one_read, testing::reference_loss(b, o), o, 1e-4, what + " vs fp64");
    }
  }
}

TEST(LossKernelCuda, ValidationValuesEqualTrainingValues) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  const LossBatch b = cuda_batch(50, 2048, 2048, 5, at::kBFloat16);
  KdLossOptions o;
  const LossResult r = testing::fused_loss(b, o);
  at::NoGradGuard no_grad;
  const auto v = loss::fused_linear_kd_loss({b.student_hidden, b.student_weight}, {b.teacher_hidden, b.teacher_weight},
                                            b.labels, o);
  EXPECT_EQ(v.loss.item<float>(), r.loss.item<float>());
  EXPECT_EQ(v.kd_loss.item<float>(), r.kd_loss.item<float>());
  EXPECT_EQ(v.ce_loss.item<float>(), r.ce_loss.item<float>());
}

// A NaN in one counted row's hidden state must reach the loss (the trainer's non-finite check),
// never vanish in a max or be replaced by 0; an ignored row's NaN must not.
TEST(LossKernelCuda, NonFiniteCountedRowsReachTheLoss) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  LossBatch b = cuda_batch(16, 1024, 1024, 9, at::kBFloat16);
  KdLossOptions o;
  b.labels[1] = -100;
  b.student_hidden[1][0] = std::nanf("");
  const auto ignored = testing::fused_loss(b, o);
  EXPECT_TRUE(std::isfinite(ignored.loss.item<double>()));
  EXPECT_TRUE(at::isfinite(ignored.grad_hidden).all().item<bool>());
  b.student_hidden[2][0] = std::nanf("");
  EXPECT_TRUE(std::isnan(testing::fused_loss(b, o).loss.item<double>()));
}

}  // namespace
}  // namespace distill
