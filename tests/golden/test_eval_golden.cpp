// `distill eval` and `distill generate` against HF transformers (scripts/make_eval_golden.py):
// sliding-window perplexity, teacher agreement and multiple choice on the tiny LLaMA student /
// Qwen2 teacher pair, greedy generation of every family, and KV-cached logits against a full pass.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "distill/infer/eval.h"
#include "distill/infer/decode_runner.h"
#include "distill/infer/generate.h"
#include "distill/models/loader.h"
#include "model_fixtures.h"
#include "test_support.h"

namespace distill {
namespace {

using Json = nlohmann::json;

Json read_json(const std::string& name) {
  std::ifstream f(std::string(DISTILL_TEST_DATA_DIR) + "/golden/" + name);
  return Json::parse(f);
}

std::vector<Json> read_jsonl(const std::string& name) {
  std::ifstream f(std::string(DISTILL_TEST_DATA_DIR) + "/golden/" + name);
  std::vector<Json> rows;
  std::string line;
  while (std::getline(f, line)) {
    if (!line.empty()) rows.push_back(Json::parse(line));
  }
  return rows;
}

void expect_rel(double got, double want, double rel, const char* what) {
  EXPECT_NEAR(got, want, rel * std::abs(want)) << what;
}

TEST(EvalGolden, PerplexityAndTeacherAgreementMatchHf) {
  const Json ref = read_json("eval_reference.json");
  std::vector<std::vector<std::int64_t>> seqs;
  for (const Json& row : read_jsonl("eval_sequences.jsonl")) seqs.push_back(row["input_ids"].get<std::vector<std::int64_t>>());
  ASSERT_EQ(seqs.size(), 7u);
  models::CausalLM student = models::load_model(testing::model_dir("llama"));
  models::CausalLM teacher = models::load_model(testing::model_dir("qwen2"));
  infer::EvalOptions o;
  o.max_length = ref["max_length"].get<std::int64_t>();
  o.stride = ref["stride"].get<std::int64_t>();
  o.chunk = 13;  // chunks that do not divide the windows
  const infer::EvalResult r = infer::evaluate(*student, teacher.get(), seqs, o);
  EXPECT_EQ(r.tokens, ref["tokens"].get<std::int64_t>());
  expect_rel(r.student.nll_sum, ref["student_nll_sum"].get<double>(), 1e-5, "student nll");
  expect_rel(r.student.perplexity(), ref["student_ppl"].get<double>(), 1e-4, "student ppl");
  expect_rel(r.teacher.perplexity(), ref["teacher_ppl"].get<double>(), 1e-4, "teacher ppl");
  expect_rel(r.student.perplexity() / r.teacher.perplexity(), ref["ppl_ratio"].get<double>(), 1e-4, "ratio");
  expect_rel(r.mean_kl, ref["mean_kl"].get<double>(), 1e-4, "mean KL");
  EXPECT_NEAR(r.top1_agreement, ref["top1_agreement"].get<double>(), 1e-12);
  EXPECT_NEAR(r.top5_overlap, ref["top5_overlap"].get<double>(), 1e-12);
}

TEST(EvalGolden, MaxTokensStopsEarly) {
  std::vector<std::vector<std::int64_t>> seqs;
  for (const Json& row : read_jsonl("eval_sequences.jsonl")) seqs.push_back(row["input_ids"].get<std::vector<std::int64_t>>());
  models::CausalLM student = models::load_model(testing::model_dir("llama"));
  infer::EvalOptions o;
  o.max_length = 64;
  o.stride = 32;
  o.max_tokens = 70;
  EXPECT_EQ(infer::evaluate(*student, nullptr, seqs, o).tokens, 70);
}

TEST(EvalGolden, MultipleChoiceMatchesHf) {
  const Json ref = read_json("eval_reference.json");
  std::vector<infer::ChoiceItem> items;
  for (const Json& row : read_jsonl("eval_mc.jsonl")) {
    infer::ChoiceItem item;
    item.context = row["context_ids"].get<std::vector<std::int64_t>>();
    item.choices = row["choices_ids"].get<std::vector<std::vector<std::int64_t>>>();
    item.answer = row["answer"].get<std::int64_t>();
    items.push_back(item);
  }
  models::CausalLM student = models::load_model(testing::model_dir("llama"));
  const infer::ChoiceResult r = infer::score_choices(*student, items);
  ASSERT_EQ(r.loglik.size(), ref["mc"].size());
  for (size_t i = 0; i < items.size(); ++i) {
    const Json& want = ref["mc"][i];
    for (size_t c = 0; c < items[i].choices.size(); ++c) {
      const double w = want["loglik"][c].get<double>();
      EXPECT_NEAR(r.loglik[i][c], w, 1e-4 * std::abs(w) + 1e-9) << "item " << i << " choice " << c;
    }
    EXPECT_EQ(r.predicted[i], want["pred"].get<std::int64_t>()) << "item " << i;
  }
  EXPECT_DOUBLE_EQ(r.accuracy, ref["mc_accuracy"].get<double>());
}

class GenerateGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(GenerateGolden, GreedyEqualsHfGenerate) {
  const Json ref = read_json("generate.json");
  const Json& fam = ref["families"][GetParam()];
  models::CausalLM model = models::load_model(testing::model_dir(GetParam()));
  model->eval();
  infer::GenerateOptions o;
  o.max_new_tokens = ref["max_new_tokens"].get<std::int64_t>();
  o.eos_ids = infer::eos_ids_of(*model);
  for (size_t i = 0; i < fam["prompts"].size(); ++i) {
    const auto prompt = fam["prompts"][i].get<std::vector<std::int64_t>>();
    std::vector<std::int64_t> streamed;
    const auto out = infer::generate(*model, prompt, o, [&](std::int64_t t) { streamed.push_back(t); });
    EXPECT_EQ(out, fam["outputs"][i].get<std::vector<std::int64_t>>()) << GetParam() << " prompt " << i;
    EXPECT_EQ(streamed, out);
  }
}

INSTANTIATE_TEST_SUITE_P(Families, GenerateGolden,
                         ::testing::Values("llama", "llama3", "llama_linear", "mistral", "qwen2", "qwen2_sliding",
                                           "qwen3", "opt", "opt_postnorm", "gpt2"),
                         [](const auto& info) { return info.param; });

// Prefill of 5 tokens then one token at a time through the KV cache gives the logits of one full
// forward pass, for every family (sliding windows of 8 are crossed: 20 tokens).
class KvCache : public ::testing::TestWithParam<std::string> {};

TEST_P(KvCache, IncrementalLogitsEqualTheFullPass) {
  models::CausalLM model = models::load_model(testing::model_dir(GetParam()));
  model->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor ids = at::randint(3, 1000, {1, 20}, at::detail::createCPUGenerator(3), at::kLong);
  const at::Tensor full = model->forward(ids);
  models::KvCache cache(20);
  models::ForwardOptions fo;
  fo.kv_cache = &cache;
  std::vector<at::Tensor> parts = {model->forward(ids.narrow(1, 0, 5), fo)};
  for (std::int64_t t = 5; t < 20; ++t) parts.push_back(model->forward(ids.narrow(1, t, 1), fo));
  EXPECT_EQ(cache.length, 20);
  EXPECT_LT(testing::max_rel_error(at::cat(parts, 1), full), 1e-5) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Families, KvCache, ::testing::ValuesIn(testing::model_fixtures()),
                         [](const auto& info) { return info.param; });

// The static-shape decode steps (infer::DecodeRunner: position on the device, a fixed bucket of
// keys under a mask) give the logits of one full forward pass too. Buckets of 8 keys: the steps
// cross buckets and the capacity (21, not a multiple of 8) caps the last one; windows of 8 are
// crossed as well.
class StaticDecode : public ::testing::TestWithParam<std::string> {};

TEST_P(StaticDecode, StepsEqualTheFullPass) {
  models::CausalLM model = models::load_model(testing::model_dir(GetParam()));
  model->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor ids = at::randint(3, 1000, {1, 20}, at::detail::createCPUGenerator(5), at::kLong);
  const at::Tensor full = model->forward(ids);
  models::KvCache cache(21);
  models::ForwardOptions fo;
  fo.kv_cache = &cache;
  std::vector<at::Tensor> parts = {model->forward(ids.narrow(1, 0, 5), fo)};
  infer::DecodeRunnerOptions ro;
  ro.bucket = 8;
  infer::DecodeRunner runner(*model, cache, ro);
  for (std::int64_t t = 5; t < 20; ++t) parts.push_back(runner.step(ids.narrow(1, t, 1)).unsqueeze(1).clone());
  EXPECT_EQ(cache.length, 20);
  EXPECT_EQ(runner.graphs(), 0);  // no graphs off the GPU
  EXPECT_LT(testing::max_rel_error(at::cat(parts, 1), full), 1e-5) << GetParam();
  EXPECT_THROW(runner.step(ids.narrow(1, 0, 2).view({2, 1})), std::invalid_argument);  // batch changed
}

INSTANTIATE_TEST_SUITE_P(Families, StaticDecode, ::testing::ValuesIn(testing::model_fixtures()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace distill
