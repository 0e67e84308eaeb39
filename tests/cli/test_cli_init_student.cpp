// `distill init-student` end to end: the written folder loads, and bad flags or files end in one
// clear message with exit 2 (usage) or 3 (unusable input) naming the flag or file.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "distill/models/loader.h"
#include "distill/util/files.h"
#include "model_fixtures.h"
#include "test_support.h"

namespace distill {
namespace {

using testing::model_dir;
using testing::run_distill;
using testing::TempDir;

bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

TEST(CliInitStudent, WritesAStudentThatLoads) {
  TempDir tmp;
  const std::string out = tmp.file("student");
  const auto r = run_distill({"init-student", "--teacher", model_dir("qwen2"), "--out", out, "--keep-layers", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "layers [1]")) << r.out;
  std::ifstream f(out + "/config.json");
  const auto config = nlohmann::json::parse(f);
  EXPECT_EQ(config["num_hidden_layers"], 1);
  EXPECT_EQ(config["layer_types"].size(), 1u);
  EXPECT_TRUE(files::is_regular_file(out + "/init_student.json"));
  EXPECT_TRUE(files::is_regular_file(out + "/generation_config.json"));
  EXPECT_EQ(models::load_model(out)->spec().num_layers, 1);
}

TEST(CliInitStudent, RandomStudentOfTheSameShape) {
  TempDir tmp;
  const auto r = run_distill({"init-student", "--teacher", model_dir("opt"), "--out", tmp.file("s"), "--layers", "1",
                              "--random", "--seed", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "random weights")) << r.out;
  EXPECT_EQ(models::load_model(tmp.file("s"))->spec().num_layers, 1);
}

TEST(CliInitStudent, BadKeepLayersExit2NamingTheFlag) {
  for (const std::string list : {"0,5", "0,0", "", "1,0", "a,1"}) {
    SCOPED_TRACE(list);
    TempDir tmp;
    const auto r = run_distill({"init-student", "--teacher", model_dir("llama"), "--out", tmp.file("s"),
                                "--keep-layers", list});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_TRUE(contains(r.err, "--keep-layers")) << r.err;
    EXPECT_FALSE(files::exists(tmp.file("s")));
  }
}

TEST(CliInitStudent, MissingCalibrationFileExits3NamingIt) {
  TempDir tmp;
  const std::string calib = tmp.file("no-such-calibration.jsonl");
  const auto r = run_distill({"init-student", "--teacher", model_dir("llama"), "--out", tmp.file("s"), "--intermediate",
                              "64", "--calibration", calib});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(contains(r.err, calib)) << r.err;
  EXPECT_FALSE(files::exists(tmp.file("s")));
}

TEST(CliInitStudent, WidthPruningWithoutCalibrationExits2) {
  TempDir tmp;
  const auto r = run_distill({"init-student", "--teacher", model_dir("llama"), "--out", tmp.file("s"), "--heads", "2"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "--calibration")) << r.err;
}

TEST(CliInitStudent, CalibrationIdsOutsideTheVocabularyExit3) {
  TempDir tmp;
  testing::write_file(tmp.file("c.jsonl"), "{\"input_ids\": [1, 2, 99999]}\n");
  const auto r = run_distill({"init-student", "--teacher", model_dir("llama"), "--out", tmp.file("s"), "--layers", "1",
                              "--calibration", tmp.file("c.jsonl")});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(contains(r.err, "99999")) << r.err;
}

TEST(CliInitStudent, ExistingOutputOrMissingTeacherAreRefused) {
  TempDir tmp;
  files::create_directories(tmp.file("s"));
  auto r = run_distill({"init-student", "--teacher", model_dir("llama"), "--out", tmp.file("s")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "already exists")) << r.err;
  r = run_distill({"init-student", "--teacher", tmp.file("nope"), "--out", tmp.file("t")});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(contains(r.err, tmp.file("nope"))) << r.err;
}

}  // namespace
}  // namespace distill
