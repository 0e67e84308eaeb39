// Golden tests: every family's logits equal HF transformers' (fp32, CPU) on the tiny fixtures.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "distill/io/safetensors.h"
#include "distill/models/loader.h"
#include "model_fixtures.h"
#include "test_support.h"

namespace distill {
namespace {

using testing::golden_path;
using testing::max_rel_error;
using testing::model_dir;

class ModelGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelGolden, LogitsMatchHuggingFaceFp32) {
  const std::string name = GetParam();
  auto golden = io::SafetensorsFile::open(golden_path(name));
  models::CausalLM model = models::load_model(model_dir(name));
  model->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor logits = model->forward(golden->tensor("input_ids"));
  const at::Tensor expected = golden->tensor("logits");
  ASSERT_EQ(logits.sizes(), expected.sizes());
  EXPECT_LT(max_rel_error(logits, expected), 1e-4) << name;
}

TEST_P(ModelGolden, PaddedBatchMatchesHuggingFaceOnRealTokens) {
  const std::string name = GetParam();
  auto golden = io::SafetensorsFile::open(golden_path(name));
  models::CausalLM model = models::load_model(model_dir(name));
  model->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor mask = golden->tensor("attention_mask");
  models::ForwardOptions options;
  options.attention_mask = mask;
  const at::Tensor logits = model->forward(golden->tensor("input_ids"), options);
  const at::Tensor expected = golden->tensor("logits_padded");
  const at::Tensor real = mask.to(at::kBool);  // (B, T): compare real tokens only
  EXPECT_LT(max_rel_error(logits.index({real}), expected.index({real})), 1e-4) << name;
}

// Outside autograd the pre-norm layers leave their last residual add to the next norm (so that the
// GPU can fuse the pair); the logits are those of the plain loop that autograd sees, to the bit.
TEST_P(ModelGolden, DeferredResidualAddsKeepTheLogits) {
  const std::string name = GetParam();
  auto golden = io::SafetensorsFile::open(golden_path(name));
  models::CausalLM model = models::load_model(model_dir(name));
  model->eval();
  const at::Tensor ids = golden->tensor("input_ids");
  const at::Tensor plain = model->forward(ids).detach();  // grad mode on: the plain loop
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(at::equal(model->forward(ids), plain)) << name;
}

TEST_P(ModelGolden, SaveThenLoadIsBitExact) {
  const std::string name = GetParam();
  models::CausalLM model = models::load_model(model_dir(name));
  testing::TempDir dir;
  models::save_model(*model, dir.path());
  models::CausalLM again = models::load_model(dir.path());
  auto a = model->named_parameters();
  auto b = again->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& item : a) {
    const at::Tensor* other = b.find(item.key());
    ASSERT_NE(other, nullptr) << item.key();
    EXPECT_TRUE(at::equal(item.value(), *other)) << name << ": " << item.key();
  }
  // The written tensors are the original file's tensors, bit for bit, under the same names.
  const io::Checkpoint original = io::Checkpoint::open(model_dir(name));
  const io::Checkpoint written = io::Checkpoint::open(dir.path());
  for (const std::string& tensor : written.names()) {
    std::string source = tensor;
    if (!original.contains(source)) continue;  // names transformers would also write, e.g. tied heads
    EXPECT_TRUE(at::equal(original.tensor(source), written.tensor(tensor))) << name << ": " << tensor;
  }
  EXPECT_EQ(written.names().size(), original.names().size()) << name;
}

INSTANTIATE_TEST_SUITE_P(Families, ModelGolden, ::testing::ValuesIn(testing::model_fixtures()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace distill
