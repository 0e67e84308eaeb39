// The key table's documentation (key_docs, docs/config.md kept in sync) and the shipped configs.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "distill/config/config.h"
#include "distill/util/errors.h"
#include "distill/util/files.h"
#include "test_support.h"

namespace distill::config {
namespace {

constexpr const char* kBegin = "<!-- BEGIN GENERATED";
constexpr const char* kEnd = "<!-- END GENERATED -->";

const KeyDoc* doc_of(const std::string& path) {
  for (const auto& d : key_docs()) {
    if (d.path == path) return &d;
  }
  return nullptr;
}

TEST(ConfigDocs, EveryKeyHasTypeDefaultAndDescription) {
  ASSERT_FALSE(key_docs().empty());
  for (const auto& d : key_docs()) {
    EXPECT_FALSE(d.type.empty()) << d.path;
    EXPECT_FALSE(d.default_value.empty()) << d.path;
    EXPECT_FALSE(d.description.empty()) << d.path;
  }
}

TEST(ConfigDocs, DescribesTypesDefaultsAndConstraints) {
  const KeyDoc* micro_batch = doc_of("train.micro_batch");
  ASSERT_NE(micro_batch, nullptr);
  EXPECT_EQ(micro_batch->type, "integer");
  EXPECT_EQ(micro_batch->default_value, "4");
  EXPECT_EQ(micro_batch->constraint, ">= 1");

  const KeyDoc* betas = doc_of("optim.betas");
  ASSERT_NE(betas, nullptr);
  EXPECT_EQ(betas->type, "list of numbers");
  EXPECT_EQ(betas->default_value, "[0.9,0.999]");
  EXPECT_EQ(betas->constraint, "2 elements, each in [0, 1)");

  EXPECT_EQ(doc_of("student.dtype")->default_value, "\"fp32\"");
  EXPECT_EQ(doc_of("teacher.dtype")->default_value, "\"bf16\"");
  EXPECT_EQ(doc_of("teacher.dtype")->constraint, "one of: fp32, bf16, fp16");
  EXPECT_EQ(doc_of("data.train")->constraint, "required");
  EXPECT_EQ(doc_of("loss.temperature")->constraint, "> 0");
  EXPECT_EQ(doc_of("loss.alpha")->constraint, "in [0, 1]");
  EXPECT_EQ(doc_of("data.shuffle")->type, "boolean");
  EXPECT_EQ(doc_of("train.device")->constraint, "auto, cpu, cuda or cuda:N");
  EXPECT_EQ(doc_of("train.micro_bach"), nullptr);
}

TEST(ConfigDocs, MarkdownHasATablePerSection) {
  const std::string md = docs_markdown();
  for (const char* section : {"teacher", "student", "data", "loss", "optim", "schedule", "train", "checkpoint"}) {
    EXPECT_NE(md.find(std::string("### ") + section + "\n"), std::string::npos) << section;
  }
  EXPECT_NE(md.find("| `train.micro_batch` | integer | `4` | >= 1 | "), std::string::npos);
}

// docs/config.md holds docs_markdown() between its BEGIN/END GENERATED markers. With
// DISTILL_UPDATE_DOCS=1 this test rewrites that part instead of comparing.
TEST(ConfigDocs, CommittedFileMatchesTheKeyTable) {
  const std::string path = std::string(DISTILL_SOURCE_DIR) + "/docs/config.md";
  const std::string text = testing::read_file(path);
  const auto begin = text.find(kBegin);
  const auto end = text.find(kEnd);
  ASSERT_NE(begin, std::string::npos) << path << " lacks the line " << kBegin << " ...";
  ASSERT_NE(end, std::string::npos) << path << " lacks the line " << kEnd;
  ASSERT_LT(begin, end);
  const auto body = text.find('\n', begin) + 1;
  const std::string generated = docs_markdown();
  const char* update = std::getenv("DISTILL_UPDATE_DOCS");
  if (update && std::string(update) == "1") {
    testing::write_file(path, text.substr(0, body) + generated + text.substr(end));
    std::printf("rewrote the generated part of %s\n", path.c_str());
    return;
  }
  const std::string committed = text.substr(body, end - body);
  if (committed == generated) return;
  // Point at the first line that differs rather than printing both tables whole.
  std::istringstream a(committed), b(generated);
  std::string line_a, line_b;
  int line = 0;
  while (true) {
    ++line;
    const bool more_a = static_cast<bool>(std::getline(a, line_a));
    const bool more_b = static_cast<bool>(std::getline(b, line_b));
    if (!more_a) line_a = "(end)";
    if (!more_b) line_b = "(end)";
    if (line_a != line_b || (!more_a && !more_b)) break;
  }
  ADD_FAILURE() << "docs/config.md is out of date with the key table; regenerate it with\n"
                << "  DISTILL_UPDATE_DOCS=1 ./build/tests/distill_tests --gtest_filter=ConfigDocs.*\n"
                << "first difference, line " << line << " of the generated part:\n"
                << "  committed: " << line_a << "\n  generated: " << line_b;
}

// Every config under configs/ loads (and so validates).
TEST(ConfigFiles, ShippedConfigsLoad) {
  const std::string dir = files::join(DISTILL_SOURCE_DIR, "configs");
  int count = 0;
  for (const std::string& name : files::list_directory(dir)) {
    if (name.size() < 5 || name.compare(name.size() - 5, 5, ".json") != 0) continue;
    ++count;
    EXPECT_NO_THROW(load(files::join(dir, name))) << name;
  }
  EXPECT_GE(count, 2);
}

TEST(ConfigFiles, QwenToOptCarriesTheSeedRecipe) {
  const Config c = load(std::string(DISTILL_SOURCE_DIR) + "/configs/qwen7b_to_opt125m.json");
  ASSERT_TRUE(c.teacher.has_value());
  EXPECT_EQ(c.teacher->dtype, "bf16");
  EXPECT_EQ(c.student.dtype, "fp32");
  EXPECT_EQ(c.loss.kind, "forward_kl");
  EXPECT_EQ(c.loss.cross_tokenizer, "align");
  EXPECT_EQ(c.loss.temperature, 3.0);
  EXPECT_EQ(c.loss.alpha, 0.7);
  EXPECT_EQ(c.optim.lr, 3e-5);
  EXPECT_EQ(c.optim.grad_clip, 1.0);
  EXPECT_GT(c.schedule.warmup_steps, 0);
  EXPECT_EQ(c.schedule.decay, "cosine");
  EXPECT_EQ(c.train.grad_accum, 8);
  EXPECT_EQ(c.train.max_steps, 10000);
  EXPECT_EQ(c.train.micro_batch, 4);
  EXPECT_EQ(c.data.seq_len, 2048);
  EXPECT_EQ(c.train.precision, "bf16");
}

TEST(ConfigFiles, TinySmokeRunsOnCpu) {
  const Config c = load(std::string(DISTILL_SOURCE_DIR) + "/configs/tiny_smoke.json");
  EXPECT_EQ(c.train.device, "cpu");
  EXPECT_EQ(c.train.precision, "fp32");
  EXPECT_LE(c.train.max_steps, 500);  // minutes on two cores (scripts/demo.sh)
  // The demo's inputs: a committed teacher, a student built from config.json, data made by
  // scripts/make_demo_data.py from the fetched Brown corpus.
  ASSERT_TRUE(c.teacher.has_value());
  EXPECT_EQ(c.teacher->path, "tests/data/demo/teacher");
  EXPECT_TRUE(files::is_regular_file(std::string(DISTILL_SOURCE_DIR) + "/" + c.teacher->path + "/model.safetensors"));
  EXPECT_EQ(c.student.init.from, "random");
  EXPECT_TRUE(files::is_regular_file(std::string(DISTILL_SOURCE_DIR) + "/" + c.student.path + "/config.json"));
  EXPECT_EQ(c.data.train.at(0).rfind(".testdata/demo/", 0), 0u);
}

}  // namespace
}  // namespace distill::config
