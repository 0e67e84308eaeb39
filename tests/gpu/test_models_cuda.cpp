// GPU golden tests (ctest label "gpu"): fp32 and bf16 logits on CUDA against HF transformers.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "distill/io/safetensors.h"
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
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  const std::string name = GetParam();
  auto golden = io::SafetensorsFile::open(golden_path(name));
  models::CausalLM model = models::load_model(model_dir(name), {at::kFloat, at::kCUDA, true});
  const at::Tensor ids = golden->tensor("input_ids").cuda();
  std::vector<at::Tensor> logits, grads;
  for (const bool on : {true, false}) {
    models::fused::set_rms_norm_to(on);
    model->zero_grad();
    at::Tensor out;
    {
      AutocastScope autocast(c10::DeviceType::CUDA, true, at::kBFloat16);
      out = model->forward(ids);
    }
    at::manual_seed(5);
    out.backward(at::randn(out.sizes(), out.options()));
    logits.push_back(out.detach());
    std::vector<at::Tensor> g;
    for (const auto& p : model->parameters()) g.push_back(p.grad().defined() ? p.grad().flatten() : at::zeros({0}, out.options().dtype(at::kFloat)));
    grads.push_back(at::cat(g));
  }
  models::fused::set_rms_norm_to(true);
  EXPECT_TRUE(at::equal(logits[0], logits[1])) << name;
  EXPECT_LT(max_rel_error(grads[0], grads[1]), 1e-2) << name;
}

INSTANTIATE_TEST_SUITE_P(Families, CudaGolden, ::testing::ValuesIn(testing::model_fixtures()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace distill
