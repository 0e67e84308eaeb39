// GPU golden tests (ctest label "gpu"): fp32 and bf16 logits on CUDA against HF transformers.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <utility>
#include <vector>

#include "distill/io/safetensors.h"
#include "distill/models/layers.h"
#include "distill/models/loader.h"
#include "distill/util/autocast.h"
#include "../../src/models/fused_ops.h"
#include "model_fixtures.h"

namespace distill {
namespace {

using testing::golden_path;
using testing::max_rel_error;
using testing::model_dir;

class CudaGolden : public ::testing::TestWithParam<std::string> {};

// A training pass under bf16 autocast over fp32 weights (the student's case): the logits, and every
// parameter's gradient (flattened, in parameter order) from one fixed random upstream gradient.
std::pair<at::Tensor, at::Tensor> autocast_training_pass(models::CausalLM& model, const at::Tensor& ids) {
  model->zero_grad();
  at::Tensor out;
  {
    AutocastScope autocast(c10::DeviceType::CUDA, true, at::kBFloat16);
    out = model->forward(ids);
  }
  at::manual_seed(5);
  out.backward(at::randn(out.sizes(), out.options()));
  std::vector<at::Tensor> g;
  for (const auto& p : model->parameters()) {
    g.push_back(p.grad().defined() ? p.grad().flatten() : at::zeros({0}, out.options().dtype(at::kFloat)));
  }
  return {out.detach(), at::cat(g)};
}

// A fast-path switch (`set(on)`) keeps the training pass's logits to the bit and its gradients within
// bf16's precision of the products (the attention backward's fp32 accumulation is not
// deterministic, and a switch may round a gradient at another point); left on after.
void expect_switch_keeps_logits(const std::string& name, void (*set)(bool)) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  auto golden = io::SafetensorsFile::open(golden_path(name));
  models::CausalLM model = models::load_model(model_dir(name), {at::kFloat, at::kCUDA, true});
  const at::Tensor ids = golden->tensor("input_ids").cuda();
  set(true);
  const auto [logits_on, grads_on] = autocast_training_pass(model, ids);
  set(false);
  const auto [logits_off, grads_off] = autocast_training_pass(model, ids);
  set(true);
  EXPECT_TRUE(at::equal(logits_on, logits_off)) << name << " max diff " << (logits_on - logits_off).abs().max().item<double>();
  EXPECT_LT(max_rel_error(grads_on, grads_off), 1e-2) << name;
}

TEST_P(CudaGolden, Fp32LogitsMatchHuggingFace) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  const std::string name = GetParam();
  auto golden = io::SafetensorsFile::open(golden_path(name));
  models::CausalLM model = models::load_model(model_dir(name), {at::kFloat, at::kCUDA, false});
  torch::NoGradGuard no_grad;
  const at::Tensor logits = model->forward(golden->tensor("input_ids").cuda()).cpu();
  EXPECT_LT(max_rel_error(logits, golden->tensor("logits")), 1e-4) << name;

  const at::Tensor mask = golden->tensor("attention_mask");
  models::ForwardOptions options;
  options.attention_mask = mask.cuda();
  const at::Tensor padded = model->forward(golden->tensor("input_ids").cuda(), options).cpu();
  const at::Tensor real = mask.to(at::kBool);
  EXPECT_LT(max_rel_error(padded.index({real}), golden->tensor("logits_padded").index({real})), 1e-4) << name;
}

// bf16 weights and compute against HF's bf16 sdpa run: bf16 keeps ~3 significant digits, and the
// two implementations round intermediate results at different points, so the bound is 3e-2 of the
// logits' scale; the mean error must stay far below it.
TEST_P(CudaGolden, Bf16LogitsMatchHuggingFace) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  const std::string name = GetParam();
  auto golden = io::SafetensorsFile::open(golden_path(name));
  ASSERT_NE(golden->find("logits_bf16"), nullptr) << "fixtures were made without CUDA";
  models::CausalLM model = models::load_model(model_dir(name), {at::kBFloat16, at::kCUDA, false});
  torch::NoGradGuard no_grad;
  const at::Tensor logits = model->forward(golden->tensor("input_ids").cuda()).to(at::kFloat).cpu();
  const at::Tensor expected = golden->tensor("logits_bf16");
  EXPECT_LT(max_rel_error(logits, expected), 3e-2) << name;
  const double mean_err = (logits - expected).abs().mean().item<double>() / expected.abs().max().item<double>();
  EXPECT_LT(mean_err, 3e-3) << name;
}

// Outside autograd the pre-norm layers defer their residual adds into the next RMSNorm, fused
// (causal_lm.cpp, fused_ops.h): the logits equal those of the add and the norm run apart, to the bit.
TEST_P(CudaGolden, FusedResidualNormKeepsTheLogits) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  const std::string name = GetParam();
  auto golden = io::SafetensorsFile::open(golden_path(name));
  models::CausalLM model = models::load_model(model_dir(name), {at::kBFloat16, at::kCUDA, false});
  torch::NoGradGuard no_grad;
  const at::Tensor ids = golden->tensor("input_ids").cuda();
  const at::Tensor fused = model->forward(ids);
  models::fused::set_add_rms_norm(false);
  const at::Tensor apart = model->forward(ids);
  models::fused::set_add_rms_norm(true);
  EXPECT_TRUE(at::equal(fused, apart)) << name;
}

// A training forward under bf16 autocast (fp32 weights, the student's case): with the attention's
// RMSNorm writing bf16 itself (fused::rms_norm_to) the logits are those of the norm and autocast's
// cast, to the bit; the weight gradients differ only by where the q/k/v product's input gradient is
// rounded (bf16 instead of fp32), far below bf16's own precision of the products.
TEST_P(CudaGolden, NormToAutocastKeepsTheLogits) {
  expect_switch_keeps_logits(GetParam(), models::fused::set_rms_norm_to);
}

// A training forward under bf16 autocast: with RoPE storing q and k in bf16 itself (fused::rope's
// store_to) instead of fp32 values that the attention's autocast then casts, the logits are the
// same to the bit (one rounding of the same fp32 values); the gradients differ only by the attention
// backward's own run-to-run noise (its fp32 dq accumulation).
TEST_P(CudaGolden, RopeToAutocastKeepsTheLogits) {
  expect_switch_keeps_logits(GetParam(), models::fused::set_rope_to);
}

// RoPE alone, bf16 q as the attention takes it (a strided view of the q/k/v product) with fp32
// tables: stored in bf16 by the kernel, the output is the fp32 result cast, and the gradient from a
// bf16 upstream gradient is the one the fp32 path gives, to the bit.
TEST(RopeStoreCuda, StoredInXTypeIsTheFp32ResultCast) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  const auto o = at::TensorOptions(at::kCUDA).dtype(at::kBFloat16);
  const std::int64_t B = 2, H = 6, T = 33, D = 64, width = H * D + 2 * 2 * D;
  at::manual_seed(7);
  const at::Tensor proj0 = at::randn({B, T, width}, o);
  const at::Tensor inv_freq = at::pow(10000.0, -at::arange(0, D, 2, o.dtype(at::kFloat)) / D);
  const models::RopeTables tables = models::rope_tables(inv_freq, at::arange(T, o.dtype(at::kLong)), at::kFloat);
  const at::Tensor gy = at::randn({B, H, T, D}, o);
  const auto q_of = [&](const at::Tensor& p) { return p.narrow(-1, 0, H * D).view({B, T, H, D}).transpose(1, 2); };
  {
    const std::string what = "q";
    const at::Tensor p1 = proj0.clone().requires_grad_(true), p2 = proj0.clone().requires_grad_(true);
    const at::Tensor stored = models::apply_rope(q_of(p1), tables, false, at::kBFloat16);
    const at::Tensor wide = models::apply_rope(q_of(p2), tables, false);
    ASSERT_EQ(stored.scalar_type(), at::kBFloat16) << what;
    ASSERT_EQ(wide.scalar_type(), at::kFloat) << what << ": fp32 tables promote";
    EXPECT_TRUE(at::equal(stored, wide.to(at::kBFloat16))) << what;
    stored.backward(gy);
    wide.to(at::kBFloat16).backward(gy);
    EXPECT_TRUE(at::equal(p1.grad(), p2.grad())) << what << " max diff " << (p1.grad() - p2.grad()).abs().max().item<double>();
  }
  models::fused::set_rope_to(false);
  const at::Tensor q = q_of(proj0);
  EXPECT_EQ(models::apply_rope(q, tables, false, at::kBFloat16).scalar_type(), at::kFloat) << "switched off";
  models::fused::set_rope_to(true);
}

INSTANTIATE_TEST_SUITE_P(Families, CudaGolden, ::testing::ValuesIn(testing::model_fixtures()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace distill
