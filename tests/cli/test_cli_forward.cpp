// `distill forward` end to end: the real binary, real fixture files, exit codes for bad input.
#include <gtest/gtest.h>
#include <fstream>
#include <torch/torch.h>

#include "distill/io/safetensors.h"
#include "model_fixtures.h"
#include "test_support.h"

namespace distill {
namespace {

using testing::run_distill;
using testing::TempDir;

TEST(CliForward, WritesLogitsMatchingHuggingFace) {
  TempDir tmp;
  const std::string out = tmp.file("logits.safetensors");
  const auto r = run_distill({"forward", "--model", testing::model_dir("opt"), "--input",
                              testing::golden_path("opt"), "--output", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto written = io::SafetensorsFile::open(out);
  auto golden = io::SafetensorsFile::open(testing::golden_path("opt"));
  // The golden file carries attention_mask, so distill forward applies it: compare real tokens.
  const at::Tensor real = golden->tensor("attention_mask").to(torch::kBool);
  EXPECT_LT(testing::max_rel_error(written->tensor("logits").index({real}),
                                   golden->tensor("logits_padded").index({real})),
            1e-4);
}

TEST(CliForward, MissingModelFolderExits3) {
  TempDir tmp;
  const auto r = run_distill({"forward", "--model", tmp.file("nope"), "--input", testing::golden_path("opt"),
                              "--output", tmp.file("o.safetensors")});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("nope"), std::string::npos) << r.err;
}

TEST(CliForward, FloatInputIdsExit3) {
  TempDir tmp;
  io::save_file(tmp.file("in.safetensors"), {{"input_ids", torch::zeros({1, 4})}});
  const auto r = run_distill({"forward", "--model", testing::model_dir("opt"), "--input", tmp.file("in.safetensors"),
                              "--output", tmp.file("o.safetensors")});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("input_ids"), std::string::npos) << r.err;
}

TEST(CliForward, OutOfRangeIdsExit3AndWriteNothing) {
  TempDir tmp;
  io::save_file(tmp.file("in.safetensors"), {{"input_ids", torch::full({1, 4}, 5000, torch::kLong)}});
  const auto r = run_distill({"forward", "--model", testing::model_dir("llama"), "--input",
                              tmp.file("in.safetensors"), "--output", tmp.file("o.safetensors")});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("[0, 1000)"), std::string::npos) << r.err;
  EXPECT_FALSE(std::ifstream(tmp.file("o.safetensors")).good());
}

TEST(CliForward, BadDtypeExits2) {
  TempDir tmp;
  const auto r = run_distill({"forward", "--model", testing::model_dir("llama"), "--input",
                              testing::golden_path("llama"), "--output", tmp.file("o.safetensors"), "--dtype", "int8"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("int8"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace distill
