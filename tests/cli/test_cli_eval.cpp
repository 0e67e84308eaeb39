// `distill eval` and `distill generate` end to end: tables, JSON, streamed ids, and clear errors.
#include <gtest/gtest.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "model_fixtures.h"
#include "test_support.h"

namespace distill {
namespace {

using testing::run_distill;
using testing::TempDir;

TEST(CliEval, PerplexityTableAndJson) {
  TempDir tmp;
  const auto r = run_distill({"eval", "--model", testing::model_dir("llama"), "--teacher", testing::model_dir("qwen2"),
                              "--data", testing::data_path("golden/eval_sequences.jsonl"), "--mc",
                              testing::data_path("golden/eval_mc.jsonl"), "--max-length", "64", "--stride", "32",
                              "--device", "cpu", "--json", tmp.file("eval.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("perplexity"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("multiple choice: 12 items"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(testing::read_file(tmp.file("eval.json")));
  const auto ref = nlohmann::json::parse(testing::read_file(testing::data_path("golden/eval_reference.json")));
  EXPECT_EQ(j["tokens"], ref["tokens"]);
  EXPECT_NEAR(j["perplexity"].get<double>(), ref["student_ppl"].get<double>(), 1e-4 * ref["student_ppl"].get<double>());
  EXPECT_NEAR(j["teacher"]["perplexity"].get<double>(), ref["teacher_ppl"].get<double>(),
              1e-4 * ref["teacher_ppl"].get<double>());
  EXPECT_DOUBLE_EQ(j["mc"]["accuracy"].get<double>(), ref["mc_accuracy"].get<double>());
}

TEST(CliEval, BadInputsExit3NamingTheLine) {
  TempDir tmp;
  testing::write_file(tmp.file("bad.jsonl"), "{\"input_ids\": [1, 2, 3]}\n{\"input_ids\": [1, \"x\"]}\n");
  auto r = run_distill({"eval", "--model", testing::model_dir("llama"), "--data", tmp.file("bad.jsonl"), "--device", "cpu"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("bad.jsonl:2"), std::string::npos) << r.err;

  testing::write_file(tmp.file("broken.jsonl"), "{\"input_ids\": [1, 2, 3]\n");
  r = run_distill({"eval", "--model", testing::model_dir("llama"), "--data", tmp.file("broken.jsonl"), "--device", "cpu"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("broken.jsonl:1"), std::string::npos) << r.err;

  testing::write_file(tmp.file("big.jsonl"), "{\"input_ids\": [1, 2, 5000]}\n");
  r = run_distill({"eval", "--model", testing::model_dir("llama"), "--data", tmp.file("big.jsonl"), "--device", "cpu"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("5000"), std::string::npos) << r.err;

  r = run_distill({"eval", "--model", testing::model_dir("llama"), "--data", tmp.file("missing.jsonl"), "--device", "cpu"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("missing.jsonl"), std::string::npos) << r.err;

  testing::write_file(tmp.file("short.jsonl"), "{\"input_ids\": [7]}\n");
  r = run_distill({"eval", "--model", testing::model_dir("llama"), "--data", tmp.file("short.jsonl"), "--device", "cpu"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
}

TEST(CliGenerate, GreedyIdsEqualHf) {
  const auto ref = nlohmann::json::parse(testing::read_file(testing::data_path("golden/generate.json")));
  const auto& fam = ref["families"]["mistral"];
  std::string ids;
  for (const auto& v : fam["prompts"][1]) ids += (ids.empty() ? "" : ",") + std::to_string(v.get<int>());
  const auto r = run_distill({"generate", "--model", testing::model_dir("mistral"), "--prompt-ids", ids,
                              "--max-new-tokens", "24", "--ids", "--device", "cpu"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["ids"], fam["outputs"][1]);
}

// Text in, text out with the demo teacher's SentencePiece tokenizer: the streamed text continues the
// prompt with its word boundaries intact and equals the decoded ids.
TEST(CliGenerate, StreamsTextThatDecodesTheIds) {
  const std::string teacher = testing::data_path("demo/teacher");
  const auto text = run_distill({"generate", "--model", teacher, "--prompt", "The jury said", "--max-new-tokens", "12",
                                 "--device", "cpu"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  ASSERT_EQ(text.out.rfind("The jury said ", 0), 0u) << text.out;
  EXPECT_EQ(text.out.back(), '\n');
  const auto ids = run_distill({"generate", "--model", teacher, "--prompt", "The jury said", "--max-new-tokens", "12",
                                "--device", "cpu", "--ids"});
  ASSERT_EQ(ids.exit_code, 0) << ids.err;
  const auto j = nlohmann::json::parse(ids.out);
  EXPECT_EQ(j["ids"].size(), 12u);
}

TEST(CliGenerate, SamplingIsSeededAndBadArgumentsExit2) {
  const std::vector<std::string> base = {"generate", "--model", testing::model_dir("llama"), "--prompt-ids", "5,6,7",
                                         "--max-new-tokens", "12", "--ids", "--device", "cpu", "--temperature", "1.5",
                                         "--top-k", "50", "--top-p", "0.9"};
  auto with_seed = [&](const std::string& seed) {
    auto args = base;
    args.insert(args.end(), {"--seed", seed});
    return run_distill(args);
  };
  const auto a = with_seed("1"), b = with_seed("1"), c = with_seed("2");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
  auto r = run_distill({"generate", "--model", testing::model_dir("llama"), "--prompt-ids", "5,99999", "--ids"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("99999"), std::string::npos) << r.err;
  r = run_distill({"generate", "--model", testing::model_dir("llama"), "--prompt-ids", "5,x", "--ids"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_distill({"generate", "--model", testing::model_dir("llama"), "--prompt-ids", "5", "--max-new-tokens", "500",
                   "--ids"});
  EXPECT_EQ(r.exit_code, 2) << r.err;  // beyond the 128-token context
  EXPECT_NE(r.err.find("context"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace distill

namespace distill {
namespace {

// `distill bench --gen-len`: prefill and decode figures for each model, and the second model
// against the first (teacher) in the table and the JSON.
TEST(CliBench, DecodeSideBySide) {
  TempDir tmp;
  const auto r = run_distill({"bench", "--model", testing::model_dir("qwen2"), "--model", testing::model_dir("llama"),
                              "--random-weights", "--prompt-len", "8", "--gen-len", "6", "--iters", "2", "--warmup",
                              "1", "--device", "cpu", "--dtype", "fp32", "--json", tmp.file("b.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("decode tok/s"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(testing::read_file(tmp.file("b.json")));
  ASSERT_EQ(j.size(), 2u);
  for (const auto& row : j) {
    EXPECT_GT(row["decode_tokens_per_s"].get<double>(), 0.0);
    EXPECT_NEAR(row["decode_ms_per_token"].get<double>(), 1000.0 / row["decode_tokens_per_s"].get<double>(), 1e-6);
  }
  EXPECT_NEAR(j[1]["vs_first"]["decode_speedup"].get<double>(),
              j[1]["decode_tokens_per_s"].get<double>() / j[0]["decode_tokens_per_s"].get<double>(), 1e-9);
  const auto bad = run_distill({"bench", "--model", testing::model_dir("llama"), "--gen-len", "-1"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
}

}  // namespace
}  // namespace distill

namespace distill {
namespace {

TEST(CliReport, WritesThePageAndRefusesARunWithoutMetrics) {
  TempDir tmp;
  ASSERT_EQ(::system(("mkdir -p " + tmp.file("run")).c_str()), 0);
  testing::write_file(tmp.file("run/metrics.jsonl"),
                      "{\"step\":1,\"loss\":3.0,\"lr\":0.001}\n{\"step\":2,\"loss\":2.5,\"lr\":0.002}\n");
  auto r = run_distill({"report", tmp.file("run")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string html = testing::read_file(tmp.file("run/report.html"));
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("data-series=\"loss\""), std::string::npos);
  r = run_distill({"report", tmp.file("nothing-here")});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("metrics.jsonl"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace distill
