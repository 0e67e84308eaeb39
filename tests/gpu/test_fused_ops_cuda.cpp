// GPU machine only (label "gpu"): the fused RMSNorm, SiLU(gate) * up and RoPE kernels
// (src/models/fused_kernels.cu) against the unfused ATen ops they replace (set_fused_kernels(false)),
// values and gradients (autograd through the unfused ops), in fp32, bf16 and fp16, on contiguous
// inputs and on the strided views the attention takes them from.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <algorithm>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "distill/models/causal_lm.h"
#include "distill/models/layers.h"
#include "distill/models/loader.h"
#include "distill/util/autocast.h"
#include "../../src/models/fused_ops.h"
#include "model_fixtures.h"

namespace distill {
namespace {

using testing::max_rel_error;

// Runs f with the fused kernels on, then off; returns (output, gradients of the inputs) of each,
// backward from the same random upstream gradient.
struct Outcome {
  at::Tensor out;
  std::vector<at::Tensor> grads;
};

Outcome run(const std::function<at::Tensor(const std::vector<at::Tensor>&)>& f, const std::vector<at::Tensor>& inputs,
        bool fused, std::uint64_t seed) {
  models::set_fused_kernels(fused);
  std::vector<at::Tensor> leaves;
  for (const at::Tensor& t : inputs) leaves.push_back(t.detach().clone().requires_grad_(t.requires_grad()));
  Outcome r;
  r.out = f(leaves);
  at::manual_seed(seed);
  const at::Tensor up = at::randn(r.out.sizes(), r.out.options());
  r.out.backward(up);
  for (const at::Tensor& t : leaves) r.grads.push_back(t.requires_grad() ? t.grad() : at::Tensor());
  models::set_fused_kernels(true);
  return r;
}

void expect_same(const Outcome& fused, const Outcome& aten, double tol, const std::string& what) {
  ASSERT_EQ(fused.out.scalar_type(), aten.out.scalar_type()) << what;
  ASSERT_EQ(fused.out.sizes(), aten.out.sizes()) << what;
  EXPECT_LT(max_rel_error(fused.out, aten.out), tol) << what << " output";
  for (std::size_t i = 0; i < aten.grads.size(); ++i) {
    if (!aten.grads[i].defined()) continue;
    ASSERT_TRUE(fused.grads[i].defined()) << what << " grad " << i;
    EXPECT_LT(max_rel_error(fused.grads[i], aten.grads[i]), tol) << what << " grad " << i;
  }
}

double tolerance(at::ScalarType t) { return t == at::kFloat ? 2e-5 : 1e-2; }

const at::ScalarType kTypes[] = {at::kFloat, at::kBFloat16, at::kHalf};

TEST(FusedOpsCuda, RmsNormMatchesTheAtenOps) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  ASSERT_TRUE(models::fused_kernels_enabled()) << "CUDA builds have the kernels on by default";
  using Pick = std::function<at::Tensor(const at::Tensor&)>;
  for (const at::ScalarType t : kTypes) {
    const auto o = at::TensorOptions(at::kCUDA).dtype(t);
    at::manual_seed(1);
    // A hidden state (rows of 896), rows of 1000 (not a multiple of the 16-byte pack: the scalar
    // path) and q-norm rows of 128 read from inside a wider (B, T, 4 * 128 + 8) projection.
    const std::vector<std::tuple<std::string, at::Tensor, Pick>> cases = {
        {"hidden", at::randn({3, 17, 896}, o) * 3, [](const at::Tensor& x) { return x; }},
        {"odd width", at::randn({5, 1000}, o), [](const at::Tensor& x) { return x; }},
        {"q view", at::randn({2, 19, 4 * 128 + 8}, o),
         [](const at::Tensor& p) { return p.narrow(-1, 8, 4 * 128).view({2, 19, 4, 128}); }},
    };
    for (const auto& [name, base, pick] : cases) {
      const at::Tensor w = (at::rand({pick(base).size(-1)}, o) + 0.5).requires_grad_(true);
      const auto f = [&pick = pick](const std::vector<at::Tensor>& in) { return models::rms_norm(pick(in[0]), in[1], 1e-6); };
      const at::Tensor x = base.clone().requires_grad_(true);
      const Outcome fused = run(f, {x, w}, true, 2);
      const Outcome aten = run(f, {x, w}, false, 2);
      expect_same(fused, aten, tolerance(t), name + " " + std::string(c10::toString(t)));
    }
  }
}

TEST(FusedOpsCuda, SiluMulMatchesTheAtenOps) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  const auto f = [](const std::vector<at::Tensor>& in) {
    return models::gated_activation(in[0], in[1], models::Activation::kSiLU);
  };
  for (const at::ScalarType t : kTypes) {
    const auto o = at::TensorOptions(at::kCUDA).dtype(t);
    at::manual_seed(3);
    for (const std::int64_t width : {4864, 1001}) {
      const at::Tensor gate = (at::randn({2, 33, width}, o) * 4).requires_grad_(true);
      const at::Tensor up = at::randn({2, 33, width}, o).requires_grad_(true);
      const Outcome fused = run(f, {gate, up}, true, 4);
      const Outcome aten = run(f, {gate, up}, false, 4);
      expect_same(fused, aten, tolerance(t), "width " + std::to_string(width) + " " + c10::toString(t));
    }
  }
}

TEST(FusedOpsCuda, RopeMatchesTheAtenOps) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  for (const at::ScalarType t : kTypes) {
    const auto o = at::TensorOptions(at::kCUDA).dtype(t);
    const std::int64_t B = 2, H = 5, T = 37, D = 64;
    at::manual_seed(5);
    // q as the attention takes it: (B, H, T, D) transposed out of a (B, T, H * D + extra) projection.
    // extra 24 keeps every row's q 16-byte aligned (the kernel's packed path), 21 does not.
    for (const std::int64_t extra : {24, 21}) {
      const at::Tensor proj = at::randn({B, T, H * D + extra}, o).requires_grad_(true);
      const auto as_q = [=](const at::Tensor& p) { return p.narrow(-1, extra, H * D).view({B, T, H, D}).transpose(1, 2); };
      const at::Tensor inv_freq = at::pow(10000.0, -at::arange(0, D, 2, o.dtype(at::kFloat)) / D);
      struct Case {
        std::string name;
        at::Tensor positions;
        at::ScalarType table_type;
        bool in_fp32;
      };
      const std::vector<Case> cases = {
          {"shared tables, same dtype", at::arange(T, o.dtype(at::kLong)), t, false},
          {"per-row tables, same dtype", at::randint(0, 500, {B, T}, o.dtype(at::kLong)), t, false},
          {"in fp32", at::arange(T, o.dtype(at::kLong)), at::kFloat, true},
          {"fp32 tables promote", at::arange(T, o.dtype(at::kLong)), at::kFloat, false},
      };
      for (const Case& c : cases) {
        const models::RopeTables tables = models::rope_tables(inv_freq, c.positions, c.table_type);
        const auto f = [&](const std::vector<at::Tensor>& in) { return models::apply_rope(as_q(in[0]), tables, c.in_fp32); };
        const Outcome fused = run(f, {proj}, true, 6);
        const Outcome aten = run(f, {proj}, false, 6);
        expect_same(fused, aten, tolerance(t), c.name + " " + c10::toString(t) + " extra " + std::to_string(extra));
      }
    }
  }
}

// down(silu(gate) * up) with the product recomputed in backward, against at::linear over the
// unfused product: fp32, bf16, and bf16 autocast over fp32 master weights (the trainer's setting).
TEST(FusedOpsCuda, SiluMulLinearMatchesTheAtenOps) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  struct Case {
    std::string name;
    at::ScalarType act, weight;
    bool autocast, bias;
  };
  const std::vector<Case> cases = {
      {"fp32", at::kFloat, at::kFloat, false, true},
      {"bf16", at::kBFloat16, at::kBFloat16, false, false},
      {"bf16 autocast, fp32 weights", at::kBFloat16, at::kFloat, true, true},
  };
  for (const Case& c : cases) {
    at::manual_seed(9);
    const auto o = at::TensorOptions(at::kCUDA);
    const at::Tensor gate = (at::randn({3, 29, 1216}, o.dtype(c.act)) * 3).requires_grad_(true);
    const at::Tensor up = at::randn({3, 29, 1216}, o.dtype(c.act)).requires_grad_(true);
    const at::Tensor w = (at::randn({320, 1216}, o.dtype(c.weight)) * 0.03).requires_grad_(true);
    const at::Tensor b = c.bias ? at::randn({320}, o.dtype(c.weight)).requires_grad_(true) : at::Tensor();
    const auto f = [&](const std::vector<at::Tensor>& in) {
      const AutocastScope scope(c10::DeviceType::CUDA, c.autocast, at::kBFloat16);
      const at::Tensor bias = in.size() > 3 ? in[3] : at::Tensor();
      if (models::fused_kernels_enabled()) {
        at::Tensor y = models::fused::silu_mul_linear(in[0], in[1], in[2], bias);
        EXPECT_TRUE(y.defined()) << c.name << ": the fused op must take this case";
        return y;
      }
      const at::Tensor h = models::gated_activation(in[0], in[1], models::Activation::kSiLU);
      return bias.defined() ? at::linear(h, in[2], bias) : at::linear(h, in[2]);
    };
    std::vector<at::Tensor> inputs = {gate, up, w};
    if (c.bias) inputs.push_back(b);
    const Outcome fused = run(f, inputs, true, 10);
    const Outcome aten = run(f, inputs, false, 10);
    expect_same(fused, aten, c.act == at::kFloat ? 1e-4 : 1e-2, c.name);
  }
}

// Without grad (the teacher's forward) the kernels run directly; the values are the same.
TEST(FusedOpsCuda, NoGradPathGivesTheSameValues) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  const auto o = at::TensorOptions(at::kCUDA).dtype(at::kBFloat16);
  at::manual_seed(7);
  const at::Tensor x = at::randn({4, 64, 3584}, o), w = at::rand({3584}, o);
  at::Tensor with_grad = models::rms_norm(x.clone().requires_grad_(true), w, 1e-6).detach();
  at::NoGradGuard no_grad;
  EXPECT_TRUE(at::equal(models::rms_norm(x, w, 1e-6), with_grad));
  models::set_fused_kernels(false);
  const at::Tensor aten = models::rms_norm(x, w, 1e-6);
  models::set_fused_kernels(true);
  EXPECT_LT(max_rel_error(with_grad, aten), 1e-2);
}

// The residual add fused into the RMSNorm after it (outside autograd, the teacher's layers): h is
// ATen's add to the bit, y the fused RMSNorm of h to the bit (the same kernel, the same order), and
// within rounding of the unfused ATen ops. It declines what it does not take.
TEST(FusedOpsCuda, AddRmsNormGivesTheAddAndTheNormsValues) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  ASSERT_TRUE(models::fused::add_rms_norm_on()) << "on by default";
  at::NoGradGuard no_grad;
  for (const at::ScalarType t : kTypes) {
    const auto o = at::TensorOptions(at::kCUDA).dtype(t);
    at::manual_seed(3);
    // Rows of 896 (packed loads) and of 1000 (the scalar path).
    for (const std::vector<std::int64_t>& shape : {std::vector<std::int64_t>{3, 17, 896}, {5, 1000}}) {
      const std::string what = std::string(c10::toString(t)) + " width " + std::to_string(shape.back());
      const at::Tensor x = at::randn(shape, o) * 3, d = at::randn(shape, o), w = at::rand({shape.back()}, o) + 0.5;
      const auto [h, y] = models::fused::add_rms_norm(x, d, w, 1e-6);
      ASSERT_TRUE(h.defined() && y.defined()) << what;
      const at::Tensor sum = x + d;
      EXPECT_TRUE(at::equal(h, sum)) << what;
      EXPECT_TRUE(at::equal(y, models::rms_norm(sum, w, 1e-6))) << what;
      models::set_fused_kernels(false);
      const at::Tensor aten = models::rms_norm(sum, w, 1e-6);
      models::set_fused_kernels(true);
      EXPECT_LT(max_rel_error(y, aten), tolerance(t)) << what;
    }
  }
  const auto o = at::TensorOptions(at::kCUDA).dtype(at::kBFloat16);
  const at::Tensor x = at::randn({4, 64}, o), d = at::randn({4, 64}, o), w = at::rand({64}, o);
  EXPECT_FALSE(models::fused::add_rms_norm(x.t(), d.t().contiguous(), at::rand({4}, o), 1e-6).first.defined())
      << "a strided x";
  EXPECT_FALSE(models::fused::add_rms_norm(x, d.to(at::kFloat), w, 1e-6).first.defined()) << "mixed dtypes";
  EXPECT_FALSE(models::fused::add_rms_norm(x.cpu(), d.cpu(), w.cpu(), 1e-6).first.defined()) << "CPU tensors";
  {
    // Under autograd it is the autograd Function (AddRmsNormUnderAutogradIsTheAddAndTheNorm), unless
    // DISTILL_FUSED_ADD_NORM_TRAIN is off.
    at::AutoGradMode grad(true);
    ASSERT_TRUE(models::fused::add_rms_norm_train_on()) << "on by default";
    const auto hy = models::fused::add_rms_norm(x.clone().requires_grad_(true), d, w, 1e-6);
    ASSERT_TRUE(hy.first.defined() && hy.second.defined()) << "autograd wants a gradient";
    EXPECT_TRUE(hy.first.requires_grad() && hy.second.requires_grad()) << "autograd wants a gradient";
    models::fused::set_add_rms_norm_train(false);
    EXPECT_FALSE(models::fused::add_rms_norm(x.clone().requires_grad_(true), d, w, 1e-6).first.defined())
        << "autograd wants a gradient, the training switch off";
    EXPECT_TRUE(models::fused::add_rms_norm(x, d, w, 1e-6).first.defined()) << "no gradient wanted, training switch off";
    models::fused::set_add_rms_norm_train(true);
  }
  models::fused::set_add_rms_norm(false);
  EXPECT_FALSE(models::fused::add_rms_norm(x, d, w, 1e-6).first.defined()) << "switched off";
  models::fused::set_add_rms_norm(true);
}

// An fp32 RMSNorm written in autocast's type (the student's attn_norm before its q/k/v product):
// the fused fp32 norm and then a cast, to the bit; backward from a gradient of that type gives the
// same input and weight gradients, to the bit, as the norm and the cast's backward. It declines
// what it does not take.
TEST(FusedOpsCuda, NormToAutocastIsTheNormThenTheCast) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  ASSERT_TRUE(models::fused::rms_norm_to_on()) << "on by default";
  const auto f32 = at::TensorOptions(at::kCUDA).dtype(at::kFloat);
  for (const at::ScalarType out : {at::kBFloat16, at::kHalf}) {
    for (const std::vector<std::int64_t>& shape : {std::vector<std::int64_t>{3, 17, 896}, {5, 1000}}) {
      const std::string what = std::string(c10::toString(out)) + " width " + std::to_string(shape.back());
      at::manual_seed(4);
      const at::Tensor x0 = at::randn(shape, f32) * 3, w0 = at::rand({shape.back()}, f32) + 0.5;
      const at::Tensor gy = at::randn(shape, f32).to(out);
      const at::Tensor x = x0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true);
      const at::Tensor y = models::fused::rms_norm_to(x, w, 1e-6, out);
      ASSERT_TRUE(y.defined()) << what;
      ASSERT_EQ(y.scalar_type(), out) << what;
      y.backward(gy);
      const at::Tensor xr = x0.clone().requires_grad_(true), wr = w0.clone().requires_grad_(true);
      const at::Tensor ref = models::rms_norm(xr, wr, 1e-6).to(out);
      ref.backward(gy);
      EXPECT_TRUE(at::equal(y, ref)) << what;
      EXPECT_TRUE(at::equal(x.grad(), xr.grad())) << what << " max diff " << (x.grad() - xr.grad()).abs().max().item<double>();
      EXPECT_TRUE(at::equal(w.grad(), wr.grad())) << what << " max diff " << (w.grad() - wr.grad()).abs().max().item<double>();
      at::NoGradGuard no_grad;
      EXPECT_TRUE(at::equal(models::fused::rms_norm_to(x0, w0, 1e-6, out), ref)) << what << " without autograd";
    }
  }
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({4, 64}, f32), w = at::rand({64}, f32);
  EXPECT_FALSE(models::fused::rms_norm_to(x.to(at::kBFloat16), w.to(at::kBFloat16), 1e-6, at::kBFloat16).defined())
      << "a bf16 input";
  EXPECT_FALSE(models::fused::rms_norm_to(x, w, 1e-6, at::kFloat).defined()) << "fp32 out";
  EXPECT_FALSE(models::fused::rms_norm_to(x.cpu(), w.cpu(), 1e-6, at::kBFloat16).defined()) << "CPU tensors";
  models::fused::set_rms_norm_to(false);
  EXPECT_FALSE(models::fused::rms_norm_to(x, w, 1e-6, at::kBFloat16).defined()) << "switched off";
  models::fused::set_rms_norm_to(true);
}


// The residual add and the RMSNorm after it under autograd (the student's training forward,
// fused::add_rms_norm_to): h and y are those of ATen's add and the norm the unfused path runs
// (rms_norm, or rms_norm_to for a bf16 y from fp32), to the bit; the gradients of x, delta and the
// weight, backward from y's gradient and, when h is read elsewhere too, h's, are those of the
// unfused ops under autograd (to fp32 rounding; delta's to one unit of its bf16) and of an fp64
// reference of the same math (to fp32 / bf16 precision). fp32 x with a bf16 delta (a bf16
// product's output added to the fp32 residual stream) and y in bf16 (attn_norm) or fp32
// (mlp_norm, the final norm), fp32 throughout, and bf16 throughout.
TEST(FusedOpsCuda, AddRmsNormUnderAutogradIsTheAddAndTheNorm) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  ASSERT_TRUE(models::fused::add_rms_norm_train_on()) << "on by default";
  struct Case {
    std::string name;
    at::ScalarType x, delta, y;
  };
  const std::vector<Case> cases = {
      {"fp32 x, bf16 delta, bf16 y", at::kFloat, at::kBFloat16, at::kBFloat16},
      {"fp32 x, bf16 delta, fp32 y", at::kFloat, at::kBFloat16, at::kFloat},
      {"fp32 x, fp16 delta, fp16 y", at::kFloat, at::kHalf, at::kHalf},
      {"fp32", at::kFloat, at::kFloat, at::kFloat},
      {"bf16", at::kBFloat16, at::kBFloat16, at::kBFloat16},
  };
  const double eps = 1e-6;
  const auto cuda = at::TensorOptions(at::kCUDA);
  for (const Case& c : cases) {
    // Rows of 896 (packed loads) and of 1002 (not a multiple of any pack: the scalar path).
    for (const std::vector<std::int64_t>& shape : {std::vector<std::int64_t>{3, 17, 896}, {5, 1002}}) {
      for (const bool with_gh : {true, false}) {
        const std::string what = c.name + " width " + std::to_string(shape.back()) + (with_gh ? " with" : " without") +
                                 " h's gradient";
        at::manual_seed(11);
        const at::Tensor x0 = (at::randn(shape, cuda) * 3).to(c.x);
        const at::Tensor d0 = at::randn(shape, cuda).to(c.delta);
        const at::Tensor w0 = (at::rand({shape.back()}, cuda) + 0.5).to(c.x);
        const at::Tensor gy = at::randn(shape, cuda).to(c.y);
        const at::Tensor gh = at::randn(shape, cuda).to(c.x);

        // Fused.
        const at::Tensor x = x0.clone().requires_grad_(true), d = d0.clone().requires_grad_(true),
                         w = w0.clone().requires_grad_(true);
        const auto [h, y] = models::fused::add_rms_norm_to(x, d, w, eps, c.y);
        ASSERT_TRUE(h.defined() && y.defined()) << what << ": the fused op must take this case";
        ASSERT_EQ(h.scalar_type(), c.x) << what;
        ASSERT_EQ(y.scalar_type(), c.y) << what;
        ASSERT_TRUE(h.requires_grad() && y.requires_grad()) << what;
        ASSERT_TRUE(y.grad_fn() != nullptr && y.grad_fn()->name().find("AddRmsNormFn") != std::string::npos)
            << what << ": " << (y.grad_fn() ? y.grad_fn()->name() : std::string("no grad_fn"));
        if (with_gh) {
          torch::autograd::backward({y, h}, {gy, gh});
        } else {
          torch::autograd::backward({y}, {gy});
        }

        // Unfused: ATen's add, then the norm the unfused path runs (the fused RMSNorm of h, in y's dtype).
        const at::Tensor xr = x0.clone().requires_grad_(true), dr = d0.clone().requires_grad_(true),
                         wr = w0.clone().requires_grad_(true);
        const at::Tensor hr = xr + dr;
        const at::Tensor yr = c.y == c.x ? models::rms_norm(hr, wr, eps) : models::fused::rms_norm_to(hr, wr, eps, c.y);
        ASSERT_TRUE(yr.defined()) << what;
        ASSERT_EQ(hr.scalar_type(), c.x) << what << ": ATen's promotion";
        if (with_gh) {
          torch::autograd::backward({yr, hr}, {gy, gh});
        } else {
          torch::autograd::backward({yr}, {gy});
        }
        EXPECT_TRUE(at::equal(h, hr)) << what << " h";
        EXPECT_TRUE(at::equal(y, yr)) << what << " y";
        ASSERT_TRUE(x.grad().defined() && d.grad().defined() && w.grad().defined()) << what;
        ASSERT_EQ(x.grad().scalar_type(), c.x) << what;
        ASSERT_EQ(d.grad().scalar_type(), c.delta) << what;
        ASSERT_EQ(w.grad().scalar_type(), c.x) << what;
        // fp32 gradients to fp32 rounding; a bf16/fp16 gradient to one unit of its type (a rounding
        // of an fp32 value that may differ in its last bit).
        const auto unit = [](at::ScalarType t) { return t == at::kFloat ? 1e-6 : t == at::kHalf ? 2e-3 : 8e-3; };
        EXPECT_LT(max_rel_error(x.grad(), xr.grad()), unit(c.x)) << what << " x's gradient against the unfused ops";
        EXPECT_LT(max_rel_error(d.grad(), dr.grad()), unit(c.delta)) << what << " delta's gradient against the unfused ops";
        EXPECT_LT(max_rel_error(w.grad(), wr.grad()), unit(c.x)) << what << " the weight's gradient against the unfused ops";

        // fp64 reference of the same math, from the h the add gives (rounded to x's dtype).
        const at::Tensor h64 = hr.detach().to(at::kDouble).requires_grad_(true);
        const at::Tensor w64 = w0.to(at::kDouble).requires_grad_(true);
        const at::Tensor y64 = w64 * (h64 * at::rsqrt(h64.pow(2).mean(-1, /*keepdim=*/true) + eps));
        if (with_gh) {
          torch::autograd::backward({y64, h64}, {gy.to(at::kDouble), gh.to(at::kDouble)});
        } else {
          torch::autograd::backward({y64}, {gy.to(at::kDouble)});
        }
        // fp32: rounding; bf16 x: the kernel rounds R(gy * w), the norm's gradient and its sum with
        // h's to bf16 where the unfused bf16 ops do (each up to 2^-8 of the value).
        const double tol = c.x == at::kFloat ? 2e-5 : 2e-2;
        EXPECT_LT(max_rel_error(x.grad().to(at::kDouble), h64.grad()), tol) << what << " x's gradient against fp64";
        EXPECT_LT(max_rel_error(d.grad().to(at::kDouble), h64.grad()), std::max(tol, unit(c.delta)))
            << what << " delta's gradient against fp64";
        EXPECT_LT(max_rel_error(w.grad().to(at::kDouble), w64.grad()), tol) << what << " the weight's gradient against fp64";
      }
    }
  }
  // Declined: the training switch off, a bf16 x with an fp32 delta, an fp16 y from a bf16 x.
  const at::Tensor x = at::randn({4, 64}, cuda).requires_grad_(true), w = at::rand({64}, cuda);
  const at::Tensor d = at::randn({4, 64}, cuda.dtype(at::kBFloat16));
  models::fused::set_add_rms_norm_train(false);
  EXPECT_FALSE(models::fused::add_rms_norm_to(x, d, w, eps, at::kBFloat16).first.defined()) << "switched off";
  models::fused::set_add_rms_norm_train(true);
  EXPECT_TRUE(models::fused::add_rms_norm_to(x, d, w, eps, at::kBFloat16).first.defined()) << "switched on";
  const at::Tensor xb = x.detach().to(at::kBFloat16).requires_grad_(true), wb = w.to(at::kBFloat16);
  EXPECT_FALSE(models::fused::add_rms_norm_to(xb, d.to(at::kFloat), wb, eps, at::kBFloat16).first.defined())
      << "a bf16 x with an fp32 delta";
  EXPECT_FALSE(models::fused::add_rms_norm_to(xb, d, wb, eps, at::kHalf).first.defined()) << "an fp16 y from bf16";
  EXPECT_FALSE(models::fused::add_rms_norm_to(x, d.t().contiguous().t(), w, eps, at::kFloat).first.defined())
      << "a strided delta";
}

// A tiny Qwen2 (tests/data/models/qwen2, fp32 master weights) in a training forward and backward,
// under bf16 autocast (the student's setting) and in plain fp32: with DISTILL_FUSED_ADD_NORM_TRAIN
// each layer's residual adds go into the RMSNorm after them (causal_lm.cpp's deferred loop, the
// autograd Function of fused::add_rms_norm_to), else the plain loop runs the adds apart. The
// logits and the loss are the same to the bit, every parameter's gradient to fp32 rounding.
TEST(FusedOpsCuda, FusedResidualNormInTrainingKeepsTheLossAndTheGradients) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  ASSERT_TRUE(models::fused::add_rms_norm_train_on()) << "on by default";
  models::CausalLM model = models::load_model(testing::model_dir("qwen2"), {at::kFloat, at::kCUDA, true});
  ASSERT_TRUE(model->spec().pre_norm);
  const std::int64_t V = model->spec().vocab_size;
  at::manual_seed(21);
  const at::Tensor ids = at::randint(0, V, {2, 33}, at::TensorOptions(at::kCUDA).dtype(at::kLong));
  const at::Tensor targets = at::randint(0, V, {2 * 33}, at::TensorOptions(at::kCUDA).dtype(at::kLong));
  for (const bool autocast : {true, false}) {
    struct Run {
      at::Tensor logits, loss;
      std::vector<at::Tensor> grads;
      std::string last_node;
    };
    std::vector<Run> runs;
    for (const bool on : {true, false}) {
      models::fused::set_add_rms_norm_train(on);
      model->zero_grad();
      Run r;
      at::Tensor hidden;
      {
        const AutocastScope scope(c10::DeviceType::CUDA, autocast, at::kBFloat16);
        hidden = model->hidden_states(ids);
        r.logits = model->logits(hidden);
      }
      r.last_node = hidden.grad_fn() ? hidden.grad_fn()->name() : "";
      r.loss = at::cross_entropy_loss(r.logits.to(at::kFloat).view({-1, V}), targets);
      r.loss.backward();
      for (const auto& p : model->named_parameters()) {
        ASSERT_TRUE(p.value().grad().defined()) << p.key();
        r.grads.push_back(p.value().grad().clone());
      }
      runs.push_back(std::move(r));
    }
    models::fused::set_add_rms_norm_train(true);
    const std::string what = autocast ? "bf16 autocast" : "fp32";
    // The switch decides the path: the final norm is the fused add + norm only with it on.
    EXPECT_NE(runs[0].last_node.find("AddRmsNormFn"), std::string::npos) << what << ": " << runs[0].last_node;
    EXPECT_EQ(runs[1].last_node.find("AddRmsNormFn"), std::string::npos) << what << ": " << runs[1].last_node;
    EXPECT_TRUE(at::equal(runs[0].logits, runs[1].logits)) << what;
    EXPECT_TRUE(at::equal(runs[0].loss, runs[1].loss)) << what;
    std::size_t i = 0;
    for (const auto& p : model->named_parameters()) {
      EXPECT_LT(max_rel_error(runs[0].grads[i], runs[1].grads[i]), 1e-5) << what << " " << p.key();
      ++i;
    }
  }
}

}  // namespace
}  // namespace distill
