// GPU machine only (label "gpu"): the fused RMSNorm, SiLU(gate) * up and RoPE kernels
// (src/models/fused_kernels.cu) against the unfused ATen ops they replace (set_fused_kernels(false)),
// values and gradients (autograd through the unfused ops), in fp32, bf16 and fp16, on contiguous
// inputs and on the strided views the attention takes them from.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "distill/models/layers.h"
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
    at::AutoGradMode grad(true);
    EXPECT_FALSE(models::fused::add_rms_norm(x.clone().requires_grad_(true), d, w, 1e-6).first.defined())
        << "autograd wants a gradient";
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

}  // namespace
}  // namespace distill
