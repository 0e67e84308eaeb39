// The data.* keys of issue #4, and nested key groups (data.augment.*): parsing, errors, to_json.
#include <gtest/gtest.h>

#include "config_test_helpers.h"
#include "distill/config/config.h"

namespace distill::config {
namespace {

using namespace test;

TEST(ConfigDataKeys, Defaults) {
  const Config c = parse(minimal(), kSource);
  EXPECT_EQ(c.data.valid_fraction, 0.0);
  EXPECT_EQ(c.data.max_length_ratio, 0.8);
  EXPECT_EQ(c.data.long_samples, "split");
  EXPECT_EQ(c.data.invalid_utf8, "repair");
  EXPECT_EQ(c.data.txt_mode, "line");
  EXPECT_TRUE(c.data.keep_text);
  EXPECT_TRUE(c.data.add_special_tokens);
  EXPECT_TRUE(c.data.augment.command.empty());
  EXPECT_FALSE(c.data.augment.shell);
  EXPECT_EQ(c.data.augment.timeout_s, 60.0);
}

TEST(ConfigDataKeys, NestedAugmentSectionParses) {
  const Config c = parse(with(R"({"data": {"augment": {"command": ["python3", "aug.py"], "timeout_s": 5}}})"), kSource);
  EXPECT_EQ(c.data.augment.command, (std::vector<std::string>{"python3", "aug.py"}));
  EXPECT_EQ(c.data.augment.timeout_s, 5.0);
  // null is an absent group.
  EXPECT_TRUE(parse(with(R"({"data": {"augment": null}})"), kSource).data.augment.command.empty());
}

TEST(ConfigDataKeys, ToJsonNestsAndRoundTrips) {
  const Config c = parse(with(R"({"data": {"augment": {"command": ["x"], "shell": true}}})"), kSource);
  const Json j = to_json(c);
  ASSERT_TRUE(j["data"]["augment"].is_object());
  EXPECT_EQ(j["data"]["augment"]["command"], Json::parse(R"(["x"])"));
  EXPECT_FALSE(j["data"].contains("augment.command"));
  EXPECT_EQ(parse(j, kSource), c);
}

TEST(ConfigDataKeys, SetReachesNestedKeys) {
  Json root = minimal();
  std::vector<std::string> overridden{apply_override(root, "data.augment.timeout_s=2.5")};
  EXPECT_EQ(parse(root, kSource, overridden).data.augment.timeout_s, 2.5);
  const Failure f = failure(minimal(), {"data.augment.timeout_s=0"});
  EXPECT_EQ(f.message, "configs/x.json: key 'data.augment.timeout_s' (from --set) must be > 0, got 0");
}

TEST(ConfigDataKeys, UnknownNestedKeyGetsASuggestion) {
  const Failure f = failure(with(R"({"data": {"augment": {"comand": ["x"]}}})"));
  EXPECT_EQ(f.message, "configs/x.json: unknown key 'data.augment.comand'; did you mean 'data.augment.command'?");
}

TEST(ConfigDataKeys, DottedNameInsideASectionIsRefused) {
  const Failure f = failure(with(R"({"data": {"augment.command": ["x"]}})"));
  EXPECT_EQ(f.message, "configs/x.json: unknown key 'data.augment.command': keys are nested, not dotted");
  EXPECT_EQ(f.hint, "write {\"augment\": {\"command\": ...}}");
}

TEST(ConfigDataKeys, GroupOfWrongTypeIsATypeError) {
  EXPECT_EQ(message(with(R"({"data": {"augment": ["x"]}})")),
            "configs/x.json: key 'data.augment': expected a section (JSON object), got list [\"x\"]");
}

TEST(ConfigDataKeys, RangesAndChoices) {
  EXPECT_EQ(message(with(R"({"data": {"valid_fraction": 1}})")),
            "configs/x.json: key 'data.valid_fraction' must be in [0, 1), got 1");
  EXPECT_EQ(message(with(R"({"data": {"max_length_ratio": 0}})")),
            "configs/x.json: key 'data.max_length_ratio' must be in (0, 1], got 0");
  EXPECT_CONTAINS(message(with(R"({"data": {"long_samples": "drop"}})")),
                  "key 'data.long_samples' must be one of split, cut; got \"drop\"");
}

TEST(ConfigDataKeys, ShellNeedsOneString) {
  const Failure f = failure(with(R"({"data": {"augment": {"command": ["a", "b"], "shell": true}}})"));
  EXPECT_CONTAINS(f.message, "data.augment.shell is true, so data.augment.command must be one string");
}

TEST(ConfigDataKeys, ValidFractionSatisfiesEvalEvery) {
  EXPECT_NO_THROW(parse(with(R"({"train": {"eval_every": 5}, "data": {"valid_fraction": 0.1}})"), kSource));
}

}  // namespace
}  // namespace distill::config
