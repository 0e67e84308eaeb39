// transplant: the new model keeps the student's logits for tokens that are one student token with
// the same string, and averages the rows of the others.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

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

INSTANTIATE_TEST_SUITE_P(Families, XtokTransplant, ::testing::Values("opt", "qwen2", "llama"));

}  // namespace
}  // namespace distill
