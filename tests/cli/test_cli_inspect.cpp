// `distill inspect` end to end: tensor listings, model summaries, and every hostile file -> exit 3.
#include <gtest/gtest.h>

#include <ATen/ops/arange.h>

#include "distill/io/safetensors.h"
#include "safetensors_bytes.h"
#include "test_support.h"

namespace distill::testing {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return lines;
}

// Exit 3, nothing on stdout, exactly one "distill: error: PATH: ..." line on stderr.
void expect_bad_input(const RunResult& r, const std::string& path, const std::vector<std::string>& fragments) {
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.out, "");
  const auto lines = lines_of(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_EQ(lines[0].rfind("distill: error: " + path, 0), 0u) << lines[0];
  for (const auto& f : fragments) EXPECT_NE(lines[0].find(f), std::string::npos) << lines[0];
}

class CliInspectHostile : public ::testing::TestWithParam<HostileCase> {};

TEST_P(CliInspectHostile, ExitsThreeWithOneLine) {
  const HostileCase& c = GetParam();
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  write_file(path, c.bytes);
  expect_bad_input(run_distill({"inspect", path}), path, c.expect);
}

INSTANTIATE_TEST_SUITE_P(SafetensorsHostile, CliInspectHostile, ::testing::ValuesIn(hostile_cases()),
                         [](const ::testing::TestParamInfo<HostileCase>& info) { return info.param.name; });

TEST(CliInspect, ListsTheTensorsOfAFile) {
  TempDir dir;
  const std::string path = dir.file("two.safetensors");
  write_file(path, safetensors_bytes(R"({"__metadata__": {"format": "pt"},)"
                                     R"( "lm_head.weight": {"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 12]},)"
                                     R"( "bias": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]}})",
                                     std::string(16, '\0')));
  const RunResult r = run_distill({"inspect", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(path + ": 2 tensors"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("metadata format = pt"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("lm_head.weight  BF16   [2, 3]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bias            F32    [1]"), std::string::npos) << r.out;
}

TEST(CliInspect, SummarisesAShardedModelFolder) {
  TempDir dir;
  write_file(dir.file("config.json"),
             R"({"architectures": ["OPTForCausalLM"], "model_type": "opt", "vocab_size": 50272, "max_position_embeddings": 2048})");
  io::NamedTensors tensors;
  for (int i = 0; i < 3; ++i) tensors.emplace_back("w" + std::to_string(i), at::arange(10).to(at::kFloat));
  io::save_checkpoint(dir.path(), tensors, {50, {}});  // 40 bytes each: three shards
  const RunResult r = run_distill({"inspect", dir.path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("OPTForCausalLM"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("parameters:     30\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 tensors in 3 files, 120 bytes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("vocab size:     50272"), std::string::npos) << r.out;
}

TEST(CliInspect, MissingShardIsExitThree) {
  TempDir dir;
  write_file(dir.file("config.json"), R"({"model_type": "opt"})");
  write_file(dir.file("model.safetensors.index.json"), R"({"weight_map": {"w": "model-00001-of-00002.safetensors"}})");
  expect_bad_input(run_distill({"inspect", dir.path()}), dir.file("model.safetensors.index.json"),
                   {"model-00001-of-00002.safetensors", "does not exist"});
}

TEST(CliInspect, MissingPathIsExitThree) {
  TempDir dir;
  expect_bad_input(run_distill({"inspect", dir.file("nothing.safetensors")}), dir.file("nothing.safetensors"),
                   {"no such file"});
}

}  // namespace
}  // namespace distill::testing
