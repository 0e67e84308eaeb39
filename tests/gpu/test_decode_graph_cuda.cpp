// CUDA-graph decode (infer::DecodeRunner) on the GPU: replayed steps give the logits of the same
// steps launched op by op and of one full forward pass, across several captured buckets.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "distill/infer/decode_runner.h"
#include "distill/infer/generate.h"
#include "distill/models/loader.h"
#include "model_fixtures.h"

namespace distill {
namespace {

using testing::max_rel_error;
using testing::model_dir;

// Logits of 5 prompt tokens (prefill) then 35 steps through a runner with buckets of 8 keys.
at::Tensor decode_logits(models::CausalLMImpl& model, const at::Tensor& ids, bool graphs, std::int64_t* captured) {
  models::KvCache cache(ids.size(1));
  models::ForwardOptions fo;
  fo.kv_cache = &cache;
  std::vector<at::Tensor> parts = {model.forward(ids.narrow(1, 0, 5), fo)};
  infer::DecodeRunnerOptions ro;
  ro.cuda_graphs = graphs;
  ro.bucket = 8;
  infer::DecodeRunner runner(model, cache, ro);
  for (std::int64_t t = 5; t < ids.size(1); ++t) parts.push_back(runner.step(ids.narrow(1, t, 1)).unsqueeze(1).clone());
  if (captured) *captured = runner.graphs();
  return at::cat(parts, 1).cpu();
}

class CudaGraphDecode : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaGraphDecode, ReplayedStepsMatchEagerAndTheFullPass) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  const std::string name = GetParam();
  models::CausalLM model = models::load_model(model_dir(name), {at::kFloat, at::kCUDA, false});
  model->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor ids = at::randint(3, 1000, {1, 40}, at::detail::createCPUGenerator(11), at::kLong).cuda();
  const at::Tensor full = model->forward(ids).cpu();
  std::int64_t captured = 0;
  const at::Tensor replayed = decode_logits(*model, ids, true, &captured);
  const at::Tensor eager = decode_logits(*model, ids, false, nullptr);
  EXPECT_EQ(captured, 5) << "buckets 8, 16, 24, 32, 40";
  EXPECT_LT(max_rel_error(replayed, eager), 1e-6) << name;
  EXPECT_LT(max_rel_error(replayed, full), 1e-4) << name;
}

// Greedy generation picks the same tokens with and without graphs (fp32: the two attention paths
// round differently, and bf16 near-ties could flip an argmax without anything being wrong).
TEST_P(CudaGraphDecode, GreedyGenerationIsUnchanged) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  models::CausalLM model = models::load_model(model_dir(GetParam()), {at::kFloat, at::kCUDA, false});
  model->eval();
  infer::GenerateOptions o;
  o.max_new_tokens = 120;  // the fixtures' context is 128
  o.eos_ids.clear();
  const std::vector<std::int64_t> prompt = {5, 17, 99, 250, 7, 31};
  const auto with_graphs = infer::generate(*model, prompt, o);
  o.cuda_graphs = false;
  const auto without = infer::generate(*model, prompt, o);
  EXPECT_EQ(with_graphs, without) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Families, CudaGraphDecode, ::testing::ValuesIn(testing::model_fixtures()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace distill
