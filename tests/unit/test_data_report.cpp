// The data report: entropy against hand-computed values, the skew threshold, the length histogram
// and the share over the limit, and the report that build_dataset writes into meta.json.
#include <gtest/gtest.h>

#include "data_test_helpers.h"
#include "distill/data/report.h"

namespace distill::data {
namespace {

using namespace test;

TEST(DataReport, EntropyMatchesHandComputation) {
  // 6:2 -> -(0.75 log2 0.75 + 0.25 log2 0.25) = 0.75 * 0.4150374993 + 0.25 * 2
  EXPECT_NEAR(entropy_bits({6, 2}), 0.8112781244591328, 1e-12);
  EXPECT_NEAR(entropy_bits({1, 1, 1}), 1.584962500721156, 1e-12);  // log2 3
  EXPECT_NEAR(entropy_bits({1, 1, 2}), 1.5, 1e-12);                // 1/4*2 + 1/4*2 + 1/2*1
  EXPECT_EQ(entropy_bits({5}), 0.0);
  EXPECT_EQ(entropy_bits({}), 0.0);
  EXPECT_NEAR(entropy_bits({3, 0, 1}), 0.8112781244591328, 1e-12);  // empty classes do not count
}

DataReport labelled(const std::vector<std::pair<std::string, int>>& classes) {
  DataReport r;
  for (const auto& [name, n] : classes) {
    for (int i = 0; i < n; ++i) r.add(10, name, true);
  }
  return r;
}

TEST(DataReport, SkewWarningBelowThreeQuartersOfTheMaximum) {
  const auto even = labelled({{"a", 7}, {"b", 3}}).labels();  // 0.8813 bits of 1
  ASSERT_TRUE(even);
  EXPECT_NEAR(even->entropy_bits, 0.8812908992306927, 1e-12);
  EXPECT_EQ(even->max_entropy_bits, 1.0);
  EXPECT_FALSE(even->skewed);
  const DataReport skewed = labelled({{"a", 9}, {"b", 1}});  // 0.469 bits
  EXPECT_NEAR(skewed.labels()->evenness, 0.4689955935892812, 1e-12);
  EXPECT_TRUE(skewed.labels()->skewed);
  ASSERT_EQ(skewed.warnings().size(), 1u);
  EXPECT_CONTAINS(skewed.warnings()[0], "strongly skewed: entropy 0.469 bits of 1.000 possible (evenness 0.469 < 0.75)");
  // Three classes 8:1:1: H = 0.8 log2 1.25 + 0.2 log2 10 = 0.9219 bits of log2 3 = 1.585: 0.58.
  const auto three = labelled({{"x", 8}, {"y", 1}, {"z", 1}}).labels();
  EXPECT_NEAR(three->entropy_bits, 0.9219280948873623, 1e-12);
  EXPECT_NEAR(three->max_entropy_bits, 1.584962500721156, 1e-12);
  EXPECT_TRUE(three->skewed);
  EXPECT_TRUE(labelled({{"only", 4}}).labels()->skewed);
  EXPECT_FALSE(DataReport().labels());  // no label field: no label section
}

TEST(DataReport, HistogramAndShareOverTheLimit) {
  DataReport r(8);
  for (std::int64_t n : {1, 2, 3, 4, 7, 8, 9, 100}) r.add(n, std::nullopt, false);
  const Json j = r.to_json();
  const Json expected = Json::parse(R"([
    {"min": 1, "max": 1, "documents": 1}, {"min": 2, "max": 3, "documents": 2},
    {"min": 4, "max": 7, "documents": 2}, {"min": 8, "max": 15, "documents": 2},
    {"min": 64, "max": 127, "documents": 1}])");
  EXPECT_EQ(j["length_histogram"], expected);
  EXPECT_EQ(j["over_limit"]["documents"], 2);
  EXPECT_EQ(j["over_limit"]["share"], 0.25);
  EXPECT_EQ(j["over_limit"]["tokens_beyond_limit"], 1 + 92);
  EXPECT_EQ(j["tokens"], 134);
  EXPECT_EQ(j["max_tokens"], 100);
  EXPECT_CONTAINS(r.text(), "over the limit of 8 tokens: 2 documents (25.00%)");
  EXPECT_CONTAINS(r.text(), "64-127 |");
}

TEST(DataReport, BuildWritesTheLabelReport) {
  testing::TempDir dir;
  std::string text;
  for (int i = 0; i < 6; ++i) text += "{\"text\": \"positive " + std::to_string(i) + "\", \"label\": \"pos\"}\n";
  for (int i = 0; i < 2; ++i) text += "{\"text\": \"negative " + std::to_string(i) + "\", \"label\": \"neg\"}\n";
  text += "{\"text\": \"no label\"}\n";
  testing::write_file(dir.file("in.jsonl"), text);
  auto o = options({dir.file("in.jsonl")}, dir.file("out"));
  o.read.label_field = "label";
  const BuildResult r = build_dataset(gpt2(), o);
  const Json& l = r.meta["report"]["labels"];
  EXPECT_EQ(l["classes"], Json::parse(R"({"neg": 2, "pos": 6})"));
  EXPECT_EQ(l["unlabeled"], 1);
  EXPECT_NEAR(l["entropy_bits"].get<double>(), 0.8112781244591328, 1e-12);
  EXPECT_EQ(l["max_entropy_bits"], 1.0);
  EXPECT_EQ(l["skewed"], false);
  EXPECT_CONTAINS(r.report, "label entropy 0.811 bits of a maximum 1.000 (log2 2)");
}

}  // namespace
}  // namespace distill::data
