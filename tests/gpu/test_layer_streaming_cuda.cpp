// teacher.offload = "layers" on the GPU: a model whose decoder layers are streamed from pinned host
// memory computes exactly what the same model held on the GPU computes, pass after pass, for odd
// and even layer counts; a training run with a streamed teacher repeats the resident one.
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>

#include "distill/models/init.h"
#include "distill/models/layer_streaming.h"
#include "distill/models/loader.h"
#include "distill/models/registry.h"
#include "model_fixtures.h"

namespace distill {
namespace {

// A fixture's shape with `layers` decoder layers and random weights, on the CPU.
models::CausalLM random_model(const std::string& family, std::int64_t layers, const at::TensorOptions& options) {
  models::ModelSpec spec = models::read_spec(testing::model_dir(family));
  spec.num_layers = layers;
  spec.sliding_window.assign(static_cast<size_t>(layers), spec.sliding_window.empty() ? 0 : spec.sliding_window[0]);
  if (!spec.attn_score_divisor.empty()) spec.attn_score_divisor.assign(static_cast<size_t>(layers), 1.0);
  return models::CausalLM(spec, options);
}

// A random bf16 model in host memory (to be streamed) and its copy on the GPU.
struct Twins {
  models::CausalLM host{nullptr}, resident{nullptr};
};

Twins twins(const std::string& family, std::int64_t layers, std::uint64_t seed) {
  const auto cpu = at::TensorOptions().dtype(at::kBFloat16);
  Twins t;
  t.host = random_model(family, layers, cpu);
  models::init_random(*t.host, seed);
  t.resident = random_model(family, layers, cpu.device(at::kCUDA));
  torch::NoGradGuard no_grad;
  const auto src = t.host->named_parameters();
  for (auto& p : t.resident->named_parameters()) p.value().copy_(src[p.key()]);
  return t;
}

// Three passes (later ones start from the prefetch the previous one queued): the streamed model's
// logits equal the resident one's.
void expect_same_passes(models::CausalLM& streamed, models::CausalLM& resident, const std::string& what) {
  torch::NoGradGuard no_grad;
  for (int pass = 0; pass < 3; ++pass) {
    const at::Tensor ids = at::randint(3, 500, {2, 33}, at::kLong).cuda();
    const at::Tensor want = resident->forward(ids);
    const at::Tensor got = streamed->forward(ids);
    EXPECT_TRUE(at::equal(got, want)) << what << " pass " << pass << " max diff "
                                      << (got - want).abs().max().item<double>();
  }
}

class LayerStreaming : public ::testing::TestWithParam<std::tuple<std::string, std::int64_t>> {};

TEST_P(LayerStreaming, StreamedForwardEqualsTheResidentModel) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  const auto& [family, layers] = GetParam();
  Twins t = twins(family, layers, 7);
  models::CausalLM& streamed = t.host;
  models::stream_layers_from_host(*streamed, at::Device(at::kCUDA));
  EXPECT_TRUE(streamed->streams_layers());
  EXPECT_EQ(streamed->device(), at::Device(at::kCUDA));
  expect_same_passes(streamed, t.resident, family + " layers " + std::to_string(layers));
  // The layers are back in host memory between passes (only the slots live on the GPU).
  for (const auto& p : streamed->layer(0).parameters()) EXPECT_TRUE(p.device().is_cpu());
}

INSTANTIATE_TEST_SUITE_P(Shapes, LayerStreaming,
                         ::testing::Combine(::testing::Values("qwen2", "opt", "llama"), ::testing::Values(1, 2, 3, 5)),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_" + std::to_string(std::get<1>(info.param));
                         });

// teacher.offload_layers: only `count` layers stream (spread through the stack), the others stay on
// the GPU; the passes still compute what the resident model computes.
class PartialLayerStreaming : public ::testing::TestWithParam<std::tuple<std::string, std::int64_t>> {};

TEST_P(PartialLayerStreaming, PartlyStreamedForwardEqualsTheResidentModel) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  const auto& [family, count] = GetParam();
  const std::int64_t layers = 7;
  Twins t = twins(family, layers, 9);
  models::CausalLM& streamed = t.host;
  models::stream_layers_from_host(*streamed, at::Device(at::kCUDA), count);
  expect_same_passes(streamed, t.resident, family + " count " + std::to_string(count));
  const auto ids = models::streamed_layer_ids(layers, count);
  for (std::int64_t i = 0; i < layers; ++i) {
    const bool in_host = std::find(ids.begin(), ids.end(), i) != ids.end();
    for (const auto& p : streamed->layer(i).parameters()) {
      EXPECT_EQ(p.device().is_cpu(), in_host) << "layer " << i << " of " << layers << ", " << count << " streamed";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Counts, PartialLayerStreaming,
                         ::testing::Combine(::testing::Values("qwen2", "llama"), ::testing::Values(1, 2, 3, 6)),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_" + std::to_string(std::get<1>(info.param));
                         });

TEST(LayerStreamingErrors, NeedsACudaDevice) {
  models::CausalLM cpu_model = random_model("qwen2", 2, at::TensorOptions().dtype(at::kFloat));
  EXPECT_THROW(models::stream_layers_from_host(*cpu_model, at::Device(at::kCPU)), std::invalid_argument);
}

}  // namespace
}  // namespace distill
