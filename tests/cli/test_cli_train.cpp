// `distill train` end to end on the real binary: --dry-run output, config errors and exit codes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>

#include "test_support.h"

namespace distill {
namespace {

using testing::run_distill;
using testing::TempDir;

#define EXPECT_CONTAINS(haystack, needle) EXPECT_PRED_FORMAT2(::testing::IsSubstring, needle, haystack)

const std::string kTiny = std::string(DISTILL_SOURCE_DIR) + "/configs/tiny_smoke.json";

TEST(CliTrain, DryRunPrintsTheResolvedConfig) {
  const auto r = run_distill({"train", "--config", kTiny, "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);  // throws (fails the test) unless stdout is one JSON document
  EXPECT_EQ(j.at("train").at("micro_batch"), 8);                // from the file
  EXPECT_EQ(j.at("train").at("device"), "cpu");
  EXPECT_EQ(j.at("train").at("max_nonfinite_steps"), 5);        // a default filled in
  EXPECT_EQ(j.at("optim").at("betas"), nlohmann::json::parse("[0.9, 0.999]"));
  EXPECT_EQ(j.at("teacher").at("tokenizer"), "");
  EXPECT_EQ(j.at("loss").at("cross_tokenizer"), "none");
  EXPECT_EQ(j.at("data").at("train").at(0), ".testdata/demo/brown_train.jsonl");
  EXPECT_EQ(j.at("student").at("init"), "random");
}

TEST(CliTrain, DryRunAppliesOverrides) {
  const auto r = run_distill({"train", "--config", kTiny, "--set", "train.micro_batch=8", "--set", "teacher=null",
                              "--set", "loss.kind=ce", "--set", "optim.betas=[0.8,0.9]", "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("train").at("micro_batch"), 8);
  EXPECT_TRUE(j.at("teacher").is_null());
  EXPECT_EQ(j.at("optim").at("betas"), nlohmann::json::parse("[0.8, 0.9]"));
}

TEST(CliTrain, ShippedConfigsPassDryRun) {
  for (const char* name : {"tiny_smoke.json", "qwen7b_to_opt125m.json"}) {
    const auto r = run_distill({"train", "--config", std::string(DISTILL_SOURCE_DIR) + "/configs/" + name, "--dry-run"});
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
  }
}

TEST(CliTrain, UnknownKeyInFileExits2WithSuggestion) {
  TempDir dir;
  const std::string path = dir.file("typo.json");
  testing::write_file(path, R"({"student": {"path": "/s"}, "data": {"train": ["a"]}, "loss": {"kind": "ce"},
                               "train": {"micro_bach": 4}})");
  const auto r = run_distill({"train", "--config", path, "--dry-run"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_CONTAINS(r.err, path + ": unknown key 'train.micro_bach'; did you mean 'train.micro_batch'?");
  EXPECT_EQ(r.out, "");
}

TEST(CliTrain, UnknownKeyViaSetExits2WithSuggestion) {
  const auto r = run_distill({"train", "--config", kTiny, "--set", "optim.lrr=1e-3", "--dry-run"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_CONTAINS(r.err, "unknown key 'optim.lrr' (from --set); did you mean 'optim.lr'?");
}

TEST(CliTrain, BadOverrideValueExits2) {
  const auto r = run_distill({"train", "--config", kTiny, "--set", "train.micro_batch=abc", "--dry-run"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_CONTAINS(r.err, "key 'train.micro_batch' (from --set): expected an integer, got string \"abc\"");
  const auto malformed = run_distill({"train", "--config", kTiny, "--set", "train.micro_batch", "--dry-run"});
  EXPECT_EQ(malformed.exit_code, 2);
  EXPECT_CONTAINS(malformed.err, "expected KEY=VALUE");
}

TEST(CliTrain, MalformedJsonExits2NamingTheFile) {
  TempDir dir;
  const std::string path = dir.file("broken.json");
  testing::write_file(path, "{\"train\": {\"micro_batch\": 4,}}\n");
  const auto r = run_distill({"train", "--config", path, "--dry-run"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_CONTAINS(r.err, path + ": invalid JSON at line 1, column ");
  EXPECT_EQ(r.err.find("terminate"), std::string::npos) << r.err;
}

TEST(CliTrain, MissingConfigExits2) {
  TempDir dir;
  const auto r = run_distill({"train", "--config", dir.file("absent.json"), "--dry-run"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_CONTAINS(r.err, dir.file("absent.json") + ": cannot open config file");
}

TEST(CliTrain, MissingTeacherFolderExits3) {
  // ctest runs this from the build folder: the config's repository-relative paths are made absolute.
  const std::string tok = std::string(DISTILL_SOURCE_DIR) + "/tests/data/demo/teacher/tokenizer.model";
  const auto r = run_distill({"train", "--config", kTiny, "--set", "checkpoint.dir=/tmp/distill-never-created", "--set",
                              "teacher.path=tests/data/models/no-such-teacher", "--set", "student.tokenizer=" + tok});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_CONTAINS(r.err, "tests/data/models/no-such-teacher");
}

TEST(CliTrain, UnknownCrossTokenizerStrategyExits2) {
  const auto r = run_distill({"train", "--config", kTiny, "--set", "loss.cross_tokenizer=glue", "--dry-run"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_CONTAINS(r.err, "loss.cross_tokenizer");
}

}  // namespace
}  // namespace distill
