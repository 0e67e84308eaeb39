// student.init: the string form ("random") and the object form that builds the student from the
// teacher ({"from": "teacher", "layers": 2, ...}); checks, shorthand output and round trips.
#include <gtest/gtest.h>

#include "config_test_helpers.h"

namespace distill::config {
namespace {

using test::failure;
using test::message;
using test::with;

TEST(ConfigStudentInit, StringFormStillSelectsPretrainedOrRandom) {
  EXPECT_EQ(parse(test::minimal(), test::kSource).student.init.from, "pretrained");
  const Config c = parse(with(R"({"student": {"init": "random"}})"), test::kSource);
  EXPECT_EQ(c.student.init.from, "random");
  EXPECT_EQ(c.student.init.layers, 0);
  // Written back in the same short form when nothing else is set.
  EXPECT_EQ(to_json(c)["student"]["init"], "random");
}

TEST(ConfigStudentInit, ObjectFormReadsEveryKey) {
  const Config c = parse(with(R"({"student": {"init": {"from": "teacher", "keep_layers": [0, 3], "heads": 4,
      "kv_heads": 2, "hidden": 64, "intermediate": 128, "calibration": "calib.jsonl", "calibration_samples": 8,
      "calibration_seq_len": 64, "layer_selection": "uniform", "random": true}}})"),
                         test::kSource);
  const StudentInitConfig& i = c.student.init;
  EXPECT_EQ(i.from, "teacher");
  EXPECT_EQ(i.keep_layers, (std::vector<std::int64_t>{0, 3}));
  EXPECT_EQ(i.heads, 4);
  EXPECT_EQ(i.kv_heads, 2);
  EXPECT_EQ(i.hidden, 64);
  EXPECT_EQ(i.intermediate, 128);
  EXPECT_EQ(i.calibration, "calib.jsonl");
  EXPECT_EQ(i.calibration_samples, 8);
  EXPECT_EQ(i.calibration_seq_len, 64);
  EXPECT_EQ(i.layer_selection, "uniform");
  EXPECT_TRUE(i.random);
  const Json j = to_json(c);
  EXPECT_EQ(j["student"]["init"]["from"], "teacher");
  EXPECT_EQ(j["student"]["init"]["keep_layers"], Json::parse("[0, 3]"));
  EXPECT_EQ(parse(j, "resolved"), c);
}

TEST(ConfigStudentInit, ObjectWithOnlyFromIsTheSameAsTheString) {
  EXPECT_EQ(parse(with(R"({"student": {"init": {"from": "random"}}})"), test::kSource),
            parse(with(R"({"student": {"init": "random"}})"), test::kSource));
}

TEST(ConfigStudentInit, SetOverrideOfTheStringStillWorks) {
  Json root = test::minimal();
  const std::string path = apply_override(root, "student.init=random");
  EXPECT_EQ(parse(root, test::kSource, {path}).student.init.from, "random");
}

TEST(ConfigStudentInit, BuildKeysNeedFromTeacher) {
  const auto f = failure(with(R"({"student": {"init": {"from": "pretrained", "layers": 2}}})"));
  EXPECT_CONTAINS(f.message, "student.init.layers");
  EXPECT_CONTAINS(f.message, "\"teacher\"");
  EXPECT_CONTAINS(f.hint, "student.init.from");
}

TEST(ConfigStudentInit, FromTeacherNeedsATeacher) {
  Json root = with(R"({"student": {"init": {"from": "teacher", "layers": 2}}, "loss": {"kind": "ce"}})");
  root["teacher"] = nullptr;
  EXPECT_CONTAINS(message(root), "no teacher");
}

TEST(ConfigStudentInit, BadValuesNameTheirKey) {
  EXPECT_CONTAINS(message(with(R"({"student": {"init": {"from": "teacher", "keep_layers": [0, "x"]}}})")),
                  "student.init.keep_layers[1]");
  EXPECT_CONTAINS(message(with(R"({"student": {"init": {"from": "teacher", "keep_layers": [-1]}}})")),
                  "student.init.keep_layers[0]");
  EXPECT_CONTAINS(message(with(R"({"student": {"init": {"from": "teacher", "keep_layers": 3}}})")),
                  "list of integers");
  EXPECT_CONTAINS(message(with(R"({"student": {"init": {"from": "teacher", "heads": -2}}})")), "student.init.heads");
  EXPECT_CONTAINS(message(with(R"({"student": {"init": {"from": "teacher", "layer_selection": "best"}}})")),
                  "student.init.layer_selection");
  EXPECT_CONTAINS(message(with(R"({"student": {"init": {"from": "scratch"}}})")), "student.init.from");
  EXPECT_CONTAINS(message(with(R"({"student": {"init": "scratch"}})")), "student.init.from");
}

TEST(ConfigStudentInit, UnknownKeyInTheObjectIsNamed) {
  const auto f = failure(with(R"({"student": {"init": {"from": "teacher", "layer": 2}}})"));
  EXPECT_CONTAINS(f.message, "student.init.layer");
  EXPECT_CONTAINS(f.message, "student.init.layers");  // the suggestion
}

}  // namespace
}  // namespace distill::config
