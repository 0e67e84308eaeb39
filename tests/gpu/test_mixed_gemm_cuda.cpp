// GPU machine only (label "gpu"): the products with an fp32 result (distill/util/mixed_gemm.h)
// against an fp64 product of the same bf16/fp16 operands, on the layouts the callers pass
// (transposed views, row slices of a larger buffer), with and without accumulation; the autocast
// linear built on them (models::fused::linear) against autocast's at::linear; the fused loss's
// head gradient with and without them.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "distill/loss/kd_loss.h"
#include "distill/util/autocast.h"
#include "distill/util/mixed_gemm.h"
#include "../../src/models/linear_ops.h"
#include "model_fixtures.h"

namespace distill {
namespace {

using testing::max_rel_error;

// Restores the switch whatever a test does.
struct MixedGemmOff {
  MixedGemmOff() { set_mixed_gemm(false); }
  ~MixedGemmOff() { set_mixed_gemm(true); }
};

TEST(MixedGemmCuda, ProductsMatchAnFp64ProductOfTheSameOperands) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  ASSERT_TRUE(mixed_gemm_enabled());
  const auto f32 = at::TensorOptions(at::kCUDA).dtype(at::kFloat);
  for (const at::ScalarType dtype : {at::kBFloat16, at::kHalf}) {
    for (const bool a_transposed : {false, true}) {
      for (const bool b_transposed : {false, true}) {
        for (const float beta : {0.0f, 1.0f}) {
          const std::string what = std::string(dtype == at::kHalf ? "fp16" : "bf16") + (a_transposed ? " a^T" : " a") +
                                   (b_transposed ? " b^T" : " b") + " beta " + std::to_string(beta);
          at::manual_seed(3);
          const std::int64_t M = 300, K = 1000, N = 136;
          // Transposed operands are views of the transposed storage, as g.t() in the loss.
          const at::Tensor a = a_transposed ? at::randn({K, M}, f32).to(dtype).t() : at::randn({M, K}, f32).to(dtype);
          const at::Tensor b = b_transposed ? at::randn({N, K}, f32).to(dtype).t() : at::randn({K, N}, f32).to(dtype);
          // c: rows 7..306 of a wider buffer, as one chunk's rows of the hidden-state gradient.
          const at::Tensor buffer = at::randn({M + 20, N}, f32);
          const at::Tensor c = buffer.narrow(0, 7, M);
          const at::Tensor before = c.clone();
          ASSERT_TRUE(mm_into_fp32(c, a, b, beta)) << what;
          const at::Tensor ref = at::mm(a.to(at::kDouble), b.to(at::kDouble)) + before.to(at::kDouble) * beta;
          // fp32 accumulation of K exact products: far below bf16's rounding (3.9e-3), which a
          // result rounded to bf16 or fp16 on the way would show.
          EXPECT_LT(max_rel_error(c, ref), 1e-5) << what;
          EXPECT_GT(max_rel_error(at::mm(a, b).to(at::kDouble) + before.to(at::kDouble) * beta, ref), 1e-4)
              << what << ": the rounded product should be measurably worse (else this test cannot tell them apart)";
          const at::Tensor fresh = mm_fp32(a, b);
          ASSERT_TRUE(fresh.defined()) << what;
          ASSERT_EQ(fresh.scalar_type(), at::kFloat) << what;
          EXPECT_LT(max_rel_error(fresh, at::mm(a.to(at::kDouble), b.to(at::kDouble))), 1e-5) << what;
        }
      }
    }
  }
}

TEST(MixedGemmCuda, LeavesTheRowsAroundASliceAlone) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  const auto f32 = at::TensorOptions(at::kCUDA).dtype(at::kFloat);
  at::manual_seed(4);
  const at::Tensor a = at::randn({64, 96}, f32).to(at::kBFloat16), b = at::randn({96, 40}, f32).to(at::kBFloat16);
  const at::Tensor buffer = at::randn({100, 40}, f32);
  const at::Tensor keep = buffer.clone();
  ASSERT_TRUE(mm_into_fp32(buffer.narrow(0, 10, 64), a, b, 0.0f));
  EXPECT_TRUE(at::equal(buffer.narrow(0, 0, 10), keep.narrow(0, 0, 10)));
  EXPECT_TRUE(at::equal(buffer.narrow(0, 74, 26), keep.narrow(0, 74, 26)));
  EXPECT_FALSE(at::equal(buffer.narrow(0, 10, 64), keep.narrow(0, 10, 64)));
}

TEST(MixedGemmCuda, DeclinesWhatItCannotTake) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  const auto f32 = at::TensorOptions(at::kCUDA).dtype(at::kFloat);
  const at::Tensor a = at::randn({32, 48}, f32).to(at::kBFloat16), b = at::randn({48, 16}, f32).to(at::kBFloat16);
  at::Tensor c = at::zeros({32, 16}, f32);
  EXPECT_FALSE(mm_into_fp32(c.cpu(), a.cpu(), b.cpu(), 0.0f)) << "CPU tensors";
  EXPECT_FALSE(mm_into_fp32(c, a.to(at::kFloat), b.to(at::kFloat), 0.0f)) << "fp32 operands";
  EXPECT_FALSE(mm_into_fp32(c, a, b.to(at::kHalf), 0.0f)) << "mixed operand dtypes";
  EXPECT_FALSE(mm_into_fp32(c.to(at::kBFloat16), a, b, 0.0f)) << "a bf16 result";
  const at::Tensor wide = at::randn({32, 96}, f32).to(at::kBFloat16);
  EXPECT_FALSE(mm_into_fp32(c, wide.slice(1, 0, 96, 2), b, 0.0f)) << "no unit stride";
  EXPECT_FALSE(mm_into_fp32(c, a, at::randn({40, 16}, f32).to(at::kBFloat16), 0.0f)) << "shapes";
  EXPECT_TRUE(at::equal(c, at::zeros_like(c))) << "a declined call writes nothing";
  {
    const MixedGemmOff off;
    EXPECT_FALSE(mm_into_fp32(c, a, b, 0.0f)) << "switched off";
    EXPECT_FALSE(mm_fp32(a, b).defined());
  }
}

// The autocast linear: the forward is autocast's at::linear to the bit; the gradients are the
// fp64 products of the same bf16 operands to fp32 accuracy, where autocast's are rounded to bf16.
TEST(MixedGemmCuda, LinearGivesAutocastsValuesAndFp32Gradients) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  struct Case {
    std::string name;
    at::ScalarType x_type;
    bool bias;
  };
  for (const Case& c : {Case{"fp32 x, bias", at::kFloat, true}, Case{"bf16 x, no bias", at::kBFloat16, false}}) {
    at::manual_seed(11);
    const auto f32 = at::TensorOptions(at::kCUDA).dtype(at::kFloat);
    const at::Tensor x0 = at::randn({3, 29, 640}, f32).to(c.x_type);
    const at::Tensor w0 = at::randn({320, 640}, f32) * 0.04, b0 = at::randn({320}, f32);
    const at::Tensor up = at::randn({3, 29, 320}, f32).to(at::kBFloat16);
    struct Run {
      at::Tensor y, gx, gw, gb;
    };
    const auto run = [&](bool mixed) {
      const at::Tensor x = x0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true);
      const at::Tensor b = c.bias ? b0.clone().requires_grad_(true) : at::Tensor();
      Run r;
      {
        const AutocastScope scope(c10::DeviceType::CUDA, true, at::kBFloat16);
        if (mixed) {
          r.y = models::fused::linear(x, w, b);
          EXPECT_TRUE(r.y.defined()) << c.name << ": the mixed linear must take this case";
        } else {
          const MixedGemmOff off;
          EXPECT_FALSE(models::fused::linear(x, w, b).defined());
          r.y = c.bias ? at::linear(x, w, b) : at::linear(x, w);
        }
      }
      r.y.backward(up);
      r.gx = x.grad();
      r.gw = w.grad();
      if (c.bias) r.gb = b.grad();
      return r;
    };
    const Run mixed = run(true), autocast = run(false);
    ASSERT_EQ(mixed.y.scalar_type(), at::kBFloat16) << c.name;
    EXPECT_TRUE(at::equal(mixed.y, autocast.y)) << c.name << ": forward values";
    ASSERT_EQ(mixed.gw.scalar_type(), at::kFloat);
    ASSERT_EQ(mixed.gx.scalar_type(), c.x_type) << c.name;
    // Reference: the products of the bf16 operands autocast computes with, in fp64.
    const at::Tensor xr = x0.to(at::kBFloat16).to(at::kDouble).reshape({-1, 640});
    const at::Tensor wr = w0.to(at::kBFloat16).to(at::kDouble);
    const at::Tensor ur = up.to(at::kDouble).reshape({-1, 320});
    const at::Tensor gw_ref = at::mm(ur.t(), xr), gx_ref = at::mm(ur, wr).view(x0.sizes());
    EXPECT_LT(max_rel_error(mixed.gw, gw_ref), 1e-5) << c.name;
    EXPECT_LT(max_rel_error(autocast.gw, gw_ref), 1e-2) << c.name;
    EXPECT_GT(max_rel_error(autocast.gw, gw_ref), 1e-4) << c.name << ": autocast's gradient is rounded to bf16";
    const double gx_tol = c.x_type == at::kFloat ? 1e-5 : 1e-2;  // a bf16 x gets a bf16 gradient
    EXPECT_LT(max_rel_error(mixed.gx, gx_ref), gx_tol) << c.name;
    EXPECT_LT(max_rel_error(mixed.gx, autocast.gx), 1e-2) << c.name;
    if (c.bias) {
      EXPECT_LT(max_rel_error(mixed.gb, ur.sum(0)), 1e-5) << c.name;
      EXPECT_LT(max_rel_error(mixed.gb, autocast.gb), 1e-2) << c.name;
    }
  }
}

TEST(MixedGemmCuda, LinearLeavesOtherCasesToAten) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  const auto f32 = at::TensorOptions(at::kCUDA).dtype(at::kFloat);
  const at::Tensor x = at::randn({4, 64}, f32), w = at::randn({32, 64}, f32).requires_grad_(true);
  EXPECT_FALSE(models::fused::linear(x, w, at::Tensor()).defined()) << "no autocast";
  const AutocastScope scope(c10::DeviceType::CUDA, true, at::kBFloat16);
  EXPECT_FALSE(models::fused::linear(x, w.detach(), at::Tensor()).defined()) << "no gradient wanted";
  EXPECT_FALSE(models::fused::linear(x, w.to(at::kBFloat16).detach().requires_grad_(true), at::Tensor()).defined())
      << "a bf16 weight";
  {
    const at::AutoGradMode no_grad(false);
    EXPECT_FALSE(models::fused::linear(x, w, at::Tensor()).defined()) << "grad mode off";
  }
  EXPECT_FALSE(models::fused::linear(x.cpu(), w.cpu(), at::Tensor()).defined()) << "CPU tensors";
  EXPECT_TRUE(models::fused::linear(x, w, at::Tensor()).defined());
}

// The gated MLP's gate and up products as one node (linear_ops.h; on CUDA by default,
// DISTILL_GATE_UP=0 turns it off): under autocast with fp32 weights, autocast's values to the bit and
// fp32 gradients of the bf16 operands; without autocast in bf16, at::linear's values.
TEST(MixedGemmCuda, GateUpGivesAutocastsValuesAndFp32Gradients) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  const bool default_on = models::fused::gate_up_on_cuda();
  models::fused::set_gate_up_on_cuda(true);
  const auto f32 = at::TensorOptions(at::kCUDA).dtype(at::kFloat);
  const std::int64_t I = 320, C = 256;
  at::manual_seed(14);
  const at::Tensor x0 = at::randn({2, 37, C}, f32), w0 = at::randn({2 * I, C}, f32) * 0.05, b0 = at::randn({2 * I}, f32);
  const at::Tensor ug = at::randn({2, 37, I}, f32).to(at::kBFloat16), uu = at::randn({2, 37, I}, f32).to(at::kBFloat16);
  struct Run {
    at::Tensor gate, up, gx, gw, gb;
  };
  const auto run = [&](bool one_node, bool autocast, at::ScalarType dtype) {
    // Fresh leaves each run (to() of the same dtype would return x0 itself).
    const at::Tensor x = x0.to(dtype).detach().clone().requires_grad_(true);
    const at::Tensor w = w0.to(autocast ? at::kFloat : dtype).detach().clone().requires_grad_(true);
    const at::Tensor b = b0.to(w.scalar_type()).detach().clone().requires_grad_(true);
    Run r;
    {
      const AutocastScope scope(c10::DeviceType::CUDA, autocast, at::kBFloat16);
      if (one_node) {
        std::tie(r.gate, r.up) = models::fused::gate_up(x, w, b);
        EXPECT_TRUE(r.gate.defined()) << "the one-node path must take this case";
      } else {
        r.gate = at::linear(x, w.narrow(0, 0, I), b.narrow(0, 0, I));
        r.up = at::linear(x, w.narrow(0, I, I), b.narrow(0, I, I));
      }
    }
    ((r.gate.to(at::kFloat) * ug.to(at::kFloat)).sum() + (r.up.to(at::kFloat) * uu.to(at::kFloat)).sum()).backward();
    r.gx = x.grad();
    r.gw = w.grad();
    r.gb = b.grad();
    return r;
  };
  // Under autocast, fp32 x and weights.
  const Run one = run(true, true, at::kFloat), two = run(false, true, at::kFloat);
  models::fused::set_gate_up_on_cuda(default_on);
  ASSERT_TRUE(one.gate.defined());
  EXPECT_TRUE(at::equal(one.gate, two.gate));
  EXPECT_TRUE(at::equal(one.up, two.up));
  ASSERT_EQ(one.gw.scalar_type(), at::kFloat);
  ASSERT_EQ(one.gx.scalar_type(), at::kFloat);
  const at::Tensor xr = x0.to(at::kBFloat16).to(at::kDouble).reshape({-1, C});
  const at::Tensor wr = w0.to(at::kBFloat16).to(at::kDouble);
  const at::Tensor gr = ug.to(at::kDouble).reshape({-1, I}), ur = uu.to(at::kDouble).reshape({-1, I});
  const at::Tensor gw_ref = at::cat({at::mm(gr.t(), xr), at::mm(ur.t(), xr)});
  const at::Tensor gx_ref = (at::mm(gr, wr.narrow(0, 0, I)) + at::mm(ur, wr.narrow(0, I, I))).view(x0.sizes());
  EXPECT_LT(max_rel_error(one.gw, gw_ref), 1e-5);
  EXPECT_LT(max_rel_error(one.gx, gx_ref), 1e-5);
  EXPECT_LT(max_rel_error(one.gb, at::cat({gr.sum(0), ur.sum(0)})), 1e-5);
  EXPECT_LT(max_rel_error(one.gw, two.gw), 1e-2);
  EXPECT_LT(max_rel_error(one.gx, two.gx), 1e-2);
  // bf16 throughout, no autocast.
  models::fused::set_gate_up_on_cuda(true);
  const Run one16 = run(true, false, at::kBFloat16), two16 = run(false, false, at::kBFloat16);
  models::fused::set_gate_up_on_cuda(default_on);
  EXPECT_TRUE(at::equal(one16.gate, two16.gate));
  EXPECT_TRUE(at::equal(one16.up, two16.up));
  EXPECT_LT(max_rel_error(one16.gw, two16.gw), 1e-2);
  EXPECT_LT(max_rel_error(one16.gx, two16.gx), 1e-2);
  EXPECT_LT(max_rel_error(one16.gb, two16.gb), 1e-2);
}

// The loss's head: its weight gradient is summed over chunks in fp32 by the product itself. The
// loss values do not change at all; the gradients agree with the bf16-product-then-add path.
TEST(MixedGemmCuda, LossHeadGradientAgreesWithTheRoundedPath) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  at::manual_seed(12);
  const auto f32 = at::TensorOptions(at::kCUDA).dtype(at::kFloat);
  const std::int64_t n = 1500, es = 256, et = 384, vs = 5000, vt = 5100;
  const at::Tensor hs = at::randn({n, es}, f32).to(at::kBFloat16);
  const at::Tensor ws = at::randn({vs, es}, f32) * (3.0 / std::sqrt(double(es)));
  const at::Tensor ht = at::randn({n, et}, f32).to(at::kBFloat16);
  const at::Tensor wt = (at::randn({vt, et}, f32) * (3.0 / std::sqrt(double(et)))).to(at::kBFloat16);
  const at::Tensor labels = at::randint(0, vs, {n}, f32.dtype(at::kLong));
  loss::KdLossOptions o;
  o.kind = loss::LossKind::kForwardKL;
  o.temperature = 2.0;
  o.alpha = 0.5;
  o.chunk_tokens = 512;  // three chunks: the sum is accumulated twice
  struct Run {
    at::Tensor loss, gh, gw;
  };
  const auto run = [&](bool mixed) {
    set_mixed_gemm(mixed);
    const at::Tensor h = hs.clone().requires_grad_(true), w = ws.clone().requires_grad_(true);
    const auto out = loss::fused_linear_kd_loss({h, w}, {ht, wt}, labels, o);
    out.loss.backward();
    set_mixed_gemm(true);
    return Run{out.loss.detach(), h.grad(), w.grad()};
  };
  const Run mixed = run(true), rounded = run(false);
  EXPECT_TRUE(at::equal(mixed.loss, rounded.loss));
  ASSERT_EQ(mixed.gw.scalar_type(), at::kFloat);
  EXPECT_LT(max_rel_error(mixed.gw, rounded.gw), 1e-2);
  EXPECT_LT(max_rel_error(mixed.gh, rounded.gh), 1e-2);
  EXPECT_GT(max_rel_error(mixed.gw, rounded.gw), 0.0) << "the rounded path was not the one switched off";
}

}  // namespace
}  // namespace distill
