// transplant: the new model keeps the student's logits for tokens that are one student token with
// the same string, and averages the rows of the others (or starts them at / below the mean row).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "data_test_helpers.h"
#include "distill/models/loader.h"
#include "distill/xtok/transplant.h"
#include "model_fixtures.h"

namespace distill {
namespace {

// New vocabulary of 1200 rows over the 1000-row OPT fixture (tied) and the Qwen2 fixture (tied)
// and LLaMA fixture (untied head): new id r < 1000 is old id 999 - r; rows 1000..1099 average two
// old rows; rows 1100.. get the mean row.
xtok::TransplantPlan reversed_plan() {
  xtok::TransplantPlan plan;
  plan.sources.resize(1200);
  for (std::int32_t r = 0; r < 1000; ++r) plan.sources[static_cast<std::size_t>(r)] = {999 - r};
  for (std::int32_t r = 1000; r < 1100; ++r) plan.sources[static_cast<std::size_t>(r)] = {r - 1000, r - 900};
  return plan;
}

class XtokTransplant : public ::testing::TestWithParam<const char*> {};

TEST_P(XtokTransplant, KeepsTheLogitsOfTokensCopiedFromOneStudentToken) {
  models::CausalLM student = models::load_model(testing::model_dir(GetParam()), {at::kFloat, at::kCPU, true});
  ASSERT_EQ(student->spec().vocab_size, 1000);
  tokenizer::SpecialTokens teacher_special;
  teacher_special.eos = 1199;
  models::CausalLM moved = xtok::transplant(*student, reversed_plan(), teacher_special, xtok::NewRows::kPieces);
  EXPECT_EQ(moved->spec().vocab_size, 1200);
  EXPECT_EQ(moved->spec().hf_config["vocab_size"], 1200);
  EXPECT_EQ(moved->spec().hf_config["eos_token_id"], 1199);
  EXPECT_TRUE(moved->lm_head_weight().requires_grad());

  const at::Tensor old_ids = at::tensor({5, 17, 300, 999, 0, 42}, at::kLong).unsqueeze(0);  // (1, 6)
  const at::Tensor new_ids = 999 - old_ids;
  at::NoGradGuard no_grad;
  const at::Tensor before = student->forward(old_ids);  // (1, 6, 1000)
  const at::Tensor after = moved->forward(new_ids);     // (1, 6, 1200)
  // Column r of the new logits is column 999 - r of the old ones (the same rows, the same math; a
  // matmul may sum in another order for another column, hence fp32 rounding, not bit equality).
  const at::Tensor reordered = after.narrow(-1, 0, 1000).flip({-1});
  EXPECT_TRUE(at::allclose(reordered, before, 1e-6, 1e-6)) << (reordered - before).abs().max().item<double>();
  // An averaged row is the mean of its sources.
  const at::Tensor w_old = student->lm_head_weight(), w_new = moved->lm_head_weight();
  EXPECT_TRUE(at::allclose(w_new[1003], (w_old[3] + w_old[103]) / 2, 1e-6, 1e-7));
  EXPECT_TRUE(at::allclose(w_new[1150], w_old.mean(0), 1e-6, 1e-7));
}

// NewRows::kMean: the head's rows that average several student rows start at the mean of all rows
// instead (a tied embedding with them); an untied input embedding keeps the pieces' mean; copied
// rows are unchanged, so the logits of copied tokens are too.
TEST_P(XtokTransplant, MeanNewRowsStartTheHeadAtTheMeanRow) {
  models::CausalLM student = models::load_model(testing::model_dir(GetParam()), {at::kFloat, at::kCPU, true});
  tokenizer::SpecialTokens teacher_special;
  models::CausalLM moved = xtok::transplant(*student, reversed_plan(), teacher_special, xtok::NewRows::kMean);
  at::NoGradGuard no_grad;
  const at::Tensor w_old = student->lm_head_weight(), w_new = moved->lm_head_weight();
  EXPECT_TRUE(at::allclose(w_new[1003], w_old.mean(0), 1e-6, 1e-7));
  EXPECT_TRUE(at::allclose(w_new[1150], w_old.mean(0), 1e-6, 1e-7));
  EXPECT_TRUE(at::equal(w_new[999 - 42], w_old[42]));
  const at::Tensor e_old = student->named_parameters()["embed.weight"];
  const at::Tensor e_new = moved->named_parameters()["embed.weight"];
  const at::Tensor want = moved->spec().tie_word_embeddings ? e_old.mean(0) : (e_old[3] + e_old[103]) / 2;
  EXPECT_TRUE(at::allclose(e_new[1003], want, 1e-6, 1e-7)) << GetParam();
  const at::Tensor old_ids = at::tensor({5, 17, 300}, at::kLong).unsqueeze(0);
  const at::Tensor reordered = moved->forward(999 - old_ids).narrow(-1, 0, 1000).flip({-1});
  EXPECT_TRUE(at::allclose(reordered, student->forward(old_ids), 1e-6, 1e-6));
}

// A probe of 4 rows x 32 tokens in the new vocabulary: copied tokens (< 1000) with three new
// ones (rows 1003, 1150, 1010), so that the new rows' fair share of probability is 3 / 124.
at::Tensor low_probe() {
  const at::Tensor r = at::arange(4, at::kLong).unsqueeze(1), t = at::arange(32, at::kLong).unsqueeze(0);
  at::Tensor p = (r * 37 + t * 101 + 11) % 1000;
  p[0][5] = 1003;
  p[1][20] = 1150;
  p[3][9] = 1010;
  return p;
}

// Mean next-token cross-entropy of logits = h W^T on the probe (h: (4, 32, E)).
double probe_ce(const at::Tensor& h, const at::Tensor& w, const at::Tensor& probe) {
  const at::Tensor logits = h.narrow(1, 0, 31).matmul(w.t()).reshape({-1, w.size(0)});
  return at::cross_entropy_loss(logits.to(at::kDouble), probe.narrow(1, 1, 31).reshape({-1})).item<double>();
}

// NewRows::kLow: copied rows stay bit-identical; the new head rows are one row, the mean row moved
// along -hbar (hbar: the mean final hidden state on the probe) by the delta that minimises the
// probe's cross-entropy: moving them a little either way raises it. A tied embedding follows the
// head, an untied one keeps the pieces' mean.
TEST_P(XtokTransplant, LowNewRowsMinimiseTheProbeCrossEntropy) {
  models::CausalLM student = models::load_model(testing::model_dir(GetParam()), {at::kFloat, at::kCPU, true});
  tokenizer::SpecialTokens teacher_special;
  const at::Tensor probe = low_probe();
  xtok::LowRowsReport report;
  models::CausalLM low =
      xtok::transplant(*student, reversed_plan(), teacher_special, xtok::NewRows::kLow, probe, &report);
  models::CausalLM mean = xtok::transplant(*student, reversed_plan(), teacher_special, xtok::NewRows::kMean);
  at::NoGradGuard no_grad;
  const at::Tensor w_old = student->lm_head_weight(), w_low = low->lm_head_weight();
  // Copied rows: bit-identical, in the head and in the embedding.
  EXPECT_TRUE(at::equal(w_low.narrow(0, 0, 1000), w_old.flip({0})));
  const at::Tensor e_old = student->named_parameters()["embed.weight"];
  const at::Tensor e_low = low->named_parameters()["embed.weight"];
  EXPECT_TRUE(at::equal(e_low.narrow(0, 0, 1000), e_old.flip({0})));
  const at::Tensor old_ids = at::tensor({5, 17, 300, 999, 0, 42}, at::kLong).unsqueeze(0);
  const at::Tensor reordered = low->forward(999 - old_ids).narrow(-1, 0, 1000).flip({-1});
  EXPECT_TRUE(at::allclose(reordered, student->forward(old_ids), 1e-6, 1e-6));

  // The new rows: mean row - delta * hbar / |hbar|^2, hbar from the kMean model's hidden states.
  const at::Tensor h = mean->hidden_states(probe);  // (4, 32, E)
  const at::Tensor hbar = h.reshape({-1, h.size(-1)}).mean(0), dir = hbar / hbar.dot(hbar);
  EXPECT_EQ(report.positions, 4 * 31);
  EXPECT_EQ(report.new_targets, 3);
  ASSERT_GT(report.delta, 0.1) << GetParam();
  ASSERT_LT(report.delta, 60.0) << GetParam();
  const at::Tensor want = w_old.mean(0) - report.delta * dir;
  EXPECT_TRUE(at::allclose(w_low.narrow(0, 1000, 200), want.unsqueeze(0).expand({200, want.size(0)}), 1e-5, 1e-6))
      << GetParam();
  const at::Tensor e_want = low->spec().tie_word_embeddings ? want : (e_old[3] + e_old[103]) / 2;
  EXPECT_TRUE(at::allclose(e_low[1003], e_want, 1e-5, 1e-6)) << GetParam();

  // delta is the probe's cross-entropy minimum along dir (on the hidden states it was fitted on).
  at::Tensor shift = at::zeros_like(w_low);
  shift.narrow(0, 1000, 200).copy_(dir.unsqueeze(0).expand({200, dir.size(0)}));
  const double at_delta = probe_ce(h, w_low, probe), eps = 0.05;
  EXPECT_LT(at_delta, probe_ce(h, w_low + eps * shift, probe)) << GetParam();
  EXPECT_LT(at_delta, probe_ce(h, w_low - eps * shift, probe)) << GetParam();
  EXPECT_LT(at_delta, probe_ce(h, mean->lm_head_weight(), probe)) << GetParam();
  // The reported softmax mass on the new rows, before and after.
  const auto new_mass = [&](const at::Tensor& w) {
    const at::Tensor p = h.narrow(1, 0, 31).matmul(w.t()).softmax(-1);
    return p.narrow(-1, 1000, 200).sum(-1).mean().item<double>();
  };
  EXPECT_NEAR(report.mass_mean, new_mass(mean->lm_head_weight()), 1e-5);
  EXPECT_NEAR(report.mass_low, new_mass(w_low), 1e-5);
  EXPECT_LT(report.mass_low, report.mass_mean);
  // kLow without a probe is a bug of the caller.
  EXPECT_THROW(xtok::transplant(*student, reversed_plan(), teacher_special, xtok::NewRows::kLow), Error);
}

INSTANTIATE_TEST_SUITE_P(Families, XtokTransplant, ::testing::Values("opt", "qwen2", "llama"));

// probe_rows: documents spread over the corpus (every n / rows-th), each cut to its share of the
// tokens, joined by the EOS, as rows of seq_len.
TEST(XtokTransplantProbe, RowsFromDocumentsSpreadOverTheCorpus) {
  testing::TempDir dir;
  const data::Corpus corpus =
      data::test::corpus_of(data::test::dataset_of(dir, data::test::numbered_docs({30, 30, 30, 30, 30, 30, 30, 30, 30, 30})));
  const at::Tensor p = xtok::probe_rows(corpus, 8, 32);  // 4 rows: documents 0, 2, 5, 7, 8 tokens each
  ASSERT_EQ(p.sizes(), (at::IntArrayRef{4, 8}));
  std::vector<std::int64_t> want;
  for (const std::int64_t d : {0, 2, 5, 7}) {
    for (std::int64_t i = 0; i < 8; ++i) want.push_back(1000 * (d + 1) + i);
    want.push_back(data::test::kGpt2Eos);
  }
  want.resize(32);
  EXPECT_TRUE(at::equal(p.reshape({-1}), at::tensor(want, at::kLong)));
  // Fewer tokens than a row: one row of what there is.
  const data::Corpus small = data::test::corpus_of(data::test::dataset_of(dir, data::test::numbered_docs({5}), "small"));
  EXPECT_EQ(xtok::probe_rows(small, 8, 32).sizes(), (at::IntArrayRef{1, 6}));
}

}  // namespace
}  // namespace distill
