// GPU machine only (label "gpu"): HF transformers loads what distill saves, and computes the same logits.
#include <gtest/gtest.h>

#include <cstdlib>

#include "distill/models/loader.h"
#include "model_fixtures.h"
#include "test_support.h"

namespace distill {
namespace {

class HfRoundTrip : public ::testing::TestWithParam<std::string> {};

// Load the fixture, save it with distill (fused q|k|v and gate|up split back, GPT-2 Conv1D
// transposed back), and let transformers load the result (scripts/check_hf_load.py).
TEST_P(HfRoundTrip, TransformersLoadsWhatDistillSaves) {
  const std::string name = GetParam();
  models::CausalLM model = models::load_model(testing::model_dir(name));
  testing::TempDir dir;
  models::save_model(*model, dir.path());
  const std::string cmd = "python3 " + std::string(DISTILL_SOURCE_DIR) + "/scripts/check_hf_load.py " + dir.path() +
                          " " + testing::golden_path(name);
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

// The original Qwen has no class in transformers (it needs trust_remote_code), so it is not here.
INSTANTIATE_TEST_SUITE_P(Families, HfRoundTrip,
                         ::testing::Values("llama", "llama3", "llama_linear", "mistral", "qwen2", "qwen2_sliding",
                                           "qwen3", "opt", "opt_postnorm", "gpt2"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace distill
