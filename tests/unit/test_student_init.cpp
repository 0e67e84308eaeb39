// Building a student from a teacher (src/student, models/prune): keeping everything reproduces the
// teacher exactly; pruning equals masking the removed parts in the teacher; heads go in whole GQA
// groups; importance finds dead layers, heads and channels; random students follow their family's
// init scheme.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "distill/models/init.h"
#include "distill/models/loader.h"
#include "distill/models/prune.h"
#include "distill/models/registry.h"
#include "distill/student/build.h"
#include "distill/student/importance.h"
#include "distill/student/select.h"
#include "distill/util/errors.h"
#include "distill/util/files.h"
#include "model_fixtures.h"
#include "test_support.h"

namespace distill {
namespace {

using Indices = std::vector<std::int64_t>;
using testing::model_dir;
using testing::TempDir;

at::Tensor sample_ids(std::int64_t vocab) {
  auto gen = at::detail::createCPUGenerator(7);
  return at::randint(vocab, {2, 12}, gen, at::kLong);
}

at::Tensor logits(models::CausalLMImpl& m, const at::Tensor& ids) {
  torch::NoGradGuard no_grad;
  return m.forward(ids);
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

// Calibration lines of random token ids.
std::string write_calibration(const TempDir& tmp, std::int64_t vocab) {
  const std::string path = tmp.file("calibration.jsonl");
  std::ofstream f(path);
  auto gen = at::detail::createCPUGenerator(11);
  for (int line = 0; line < 6; ++line) {
    const at::Tensor ids = at::randint(vocab, {16}, gen, at::kLong);
    f << nlohmann::json{{"input_ids", std::vector<std::int64_t>(ids.data_ptr<std::int64_t>(),
                                                                ids.data_ptr<std::int64_t>() + 16)}}.dump() << "\n";
  }
  return path;
}

Indices range(std::int64_t n) {
  Indices out;
  for (std::int64_t i = 0; i < n; ++i) out.push_back(i);
  return out;
}

// ------------------------------------------------------------------ keeping everything
TEST(StudentInit, KeepingEverythingReproducesTheTeachersLogitsExactly) {
  for (const std::string& name : testing::model_fixtures()) {
    SCOPED_TRACE(name);
    TempDir tmp;
    const std::string out = tmp.file("student");
    student::build_student(model_dir(name), out, student::Recipe{});
    models::CausalLM teacher = models::load_model(model_dir(name));
    models::CausalLM copy = models::load_model(out);  // strict: every tensor, shape and dtype
    const at::Tensor ids = sample_ids(teacher->spec().vocab_size);
    EXPECT_TRUE(at::equal(logits(*copy, ids), logits(*teacher, ids)));
    EXPECT_TRUE(read_json(out + "/init_student.json").contains("recipe"));
  }
}

TEST(StudentInit, ExplicitFullSizesAreTheSameAsKeepingEverything) {
  TempDir tmp;
  student::Recipe r;
  r.keep_layers = {0, 1};
  r.heads = 4;
  r.kv_heads = 2;
  r.hidden = 48;
  r.intermediate = 96;
  r.calibration = write_calibration(tmp, 256);
  student::build_student(model_dir("qwen2"), tmp.file("student"), r);
  models::CausalLM teacher = models::load_model(model_dir("qwen2"));
  models::CausalLM copy = models::load_model(tmp.file("student"));
  const at::Tensor ids = sample_ids(teacher->spec().vocab_size);
  EXPECT_TRUE(at::equal(logits(*copy, ids), logits(*teacher, ids)));
}

// ------------------------------------------------------------------ pruning = masking
// The teacher with what `plan` drops silenced: a dropped layer's output projections zeroed (a
// pre-norm layer then passes its input through), a dropped head's columns of the attention output
// projection zeroed, a dropped MLP channel's column of the down projection zeroed.
void mask_teacher(models::CausalLMImpl& t, const models::PrunePlan& plan) {
  torch::NoGradGuard no_grad;
  auto params = t.named_parameters();
  const auto& s = t.spec();
  for (std::int64_t l = 0; l < s.num_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    const auto kept = std::find(plan.layers.begin(), plan.layers.end(), l);
    if (kept == plan.layers.end()) {
      for (const char* n : {"attn.o.weight", "attn.o.bias", "mlp.down.weight", "mlp.down.bias"}) {
        if (at::Tensor* w = params.find(p + n)) w->zero_();
      }
      continue;
    }
    const size_t i = static_cast<size_t>(kept - plan.layers.begin());
    for (std::int64_t h = 0; h < s.num_heads; ++h) {
      if (std::count(plan.heads[i].begin(), plan.heads[i].end(), h)) continue;
      params[p + "attn.o.weight"].narrow(1, h * s.head_dim, s.head_dim).zero_();
    }
    for (std::int64_t c = 0; c < s.intermediate_size; ++c) {
      if (!std::count(plan.channels[i].begin(), plan.channels[i].end(), c)) params[p + "mlp.down.weight"].select(1, c).zero_();
    }
  }
}

TEST(StudentInit, PruningLayersHeadsAndChannelsEqualsMaskingThemInTheTeacher) {
  // OPT and GPT-2 tie head_dim to hidden_size / heads, so their heads are pruned with hidden (below).
  for (const std::string name : {"llama", "qwen2_sliding", "qwen3", "mistral", "qwen", "opt", "gpt2"}) {
    SCOPED_TRACE(name);
    models::CausalLM teacher = models::load_model(model_dir(name));
    const auto& s = teacher->spec();
    ASSERT_EQ(s.num_layers, 2);
    models::PrunePlan plan = models::keep_all(s);
    plan.layers = {1};  // qwen2_sliding: the kept layer is the sliding one and must stay so
    const bool gqa = s.num_kv_heads < s.num_heads;
    if (gqa) {
      plan.kv_heads = {{1}};
      plan.heads = {{2, 3}};  // the query group of key/value head 1
    } else if (name == "qwen") {
      plan.kv_heads = plan.heads = {{0, 3}};
    } else {
      plan.kv_heads = {plan.kv_heads[1]};
      plan.heads = {plan.heads[1]};
    }
    Indices even;
    for (std::int64_t c = 0; c < s.intermediate_size; c += 2) even.push_back(c);
    plan.channels = {even};
    const models::ModelSpec spec =
        models::spec_from_config(models::HfConfig(models::pruned_config(s, plan), "pruned/config.json"));
    EXPECT_EQ(spec.num_layers, 1);
    EXPECT_EQ(spec.sliding_window[0], s.sliding_window[1]);
    models::CausalLM pruned = models::prune(*teacher, plan, spec);
    const at::Tensor ids = sample_ids(s.vocab_size);
    const at::Tensor got = logits(*pruned, ids);
    mask_teacher(*teacher, plan);
    EXPECT_LT(testing::max_rel_error(got, logits(*teacher, ids)), 1e-5);

    // Written and read back through the strict loader.
    TempDir tmp;
    models::save_model(*pruned, tmp.file("p"));
    models::CausalLM loaded = models::load_model(tmp.file("p"));
    EXPECT_TRUE(at::equal(logits(*loaded, ids), got));
  }
}

// ------------------------------------------------------------------ selection
TEST(StudentSelect, UniformLayersKeepTheFirstAndTheLast) {
  EXPECT_EQ(student::uniform_layers(4, 2), (Indices{0, 3}));
  EXPECT_EQ(student::uniform_layers(5, 3), (Indices{0, 2, 4}));
  EXPECT_EQ(student::uniform_layers(12, 6), (Indices{0, 2, 4, 7, 9, 11}));  // round(i * 11 / 5)
  EXPECT_EQ(student::uniform_layers(4, 4), (Indices{0, 1, 2, 3}));
  EXPECT_EQ(student::uniform_layers(4, 1), (Indices{0}));
}

TEST(StudentSelect, TopIndicesAreAscendingAndPreferLowerOnTies) {
  EXPECT_EQ(student::top_indices(at::tensor({0.5, 3.0, 1.0, 3.0}), 2), (Indices{1, 3}));
  EXPECT_EQ(student::top_indices(at::tensor({1.0, 1.0, 1.0}), 2), (Indices{0, 1}));
}

TEST(StudentSelect, HeadsGoInWholeGqaGroups) {
  // 8 query heads in 4 groups of 2; group sums 0.3, 6, 0.6, 4.
  const at::Tensor imp = at::tensor({0.1, 0.2, 5.0, 1.0, 0.3, 0.3, 2.0, 2.0});
  auto one = student::select_heads(imp, 4, 2, 2);
  EXPECT_EQ(one.kv_heads, (Indices{1, 3}));
  EXPECT_EQ(one.heads, (Indices{2, 6}));  // the better head of each kept group (a tie keeps the lower)
  auto both = student::select_heads(imp, 4, 4, 2);
  EXPECT_EQ(both.heads, (Indices{2, 3, 6, 7}));
  auto all_groups = student::select_heads(imp, 4, 4, 4);  // every group, one head each
  EXPECT_EQ(all_groups.kv_heads, (Indices{0, 1, 2, 3}));
  EXPECT_EQ(all_groups.heads, (Indices{1, 2, 4, 6}));
}

TEST(StudentInit, KeptQueryHeadsBelongToKeptKeyValueHeads) {
  TempDir tmp;
  student::Recipe r;
  r.heads = 2;
  r.kv_heads = 1;
  r.calibration = write_calibration(tmp, 256);
  student::build_student(model_dir("llama"), tmp.file("student"), r);  // 4 heads in 2 groups of 2
  const auto kept = read_json(tmp.file("student/init_student.json"))["kept"];
  ASSERT_EQ(kept["heads"].size(), 2u);
  for (size_t l = 0; l < 2; ++l) {
    ASSERT_EQ(kept["kv_heads"][l].size(), 1u);
    const std::int64_t group = kept["kv_heads"][l][0];
    for (const auto& h : kept["heads"][l]) EXPECT_EQ(h.get<std::int64_t>() / 2, group);
  }
  models::CausalLM s = models::load_model(tmp.file("student"));
  EXPECT_EQ(s->spec().num_heads, 2);
  EXPECT_EQ(s->spec().num_kv_heads, 1);
  EXPECT_EQ(s->spec().head_dim, 12);
}

// ------------------------------------------------------------------ importance
// The llama fixture with dead parts: layer 0 passes its input through (output projections zero);
// in layer 1, key/value head 0 (query heads 0 and 1) reads zero values and MLP channel 5's gate is 0.
models::CausalLM dead_parts_teacher() {
  models::CausalLM t = models::load_model(model_dir("llama"));
  torch::NoGradGuard no_grad;
  auto p = t->named_parameters();
  const auto& s = t->spec();
  p["layers.0.attn.o.weight"].zero_();
  p["layers.0.mlp.down.weight"].zero_();
  p["layers.1.attn.qkv.weight"].narrow(0, s.q_size() + s.kv_size(), s.head_dim).zero_();  // v of kv head 0
  p["layers.1.mlp.up.weight"][5].zero_();                                                // gate row of channel 5
  return t;
}

TEST(StudentImportance, DeadLayersHeadsAndChannelsScoreZero) {
  models::CausalLM t = dead_parts_teacher();
  TempDir tmp;
  std::vector<std::vector<std::int64_t>> seqs = {range(16), {3, 9, 27, 81, 243, 5}};
  const student::Importance imp = student::measure_importance(*t, seqs, 10);
  EXPECT_EQ(imp.tokens, 16);  // 10 + 6: sequences cut at max_len
  EXPECT_LT(imp.block_influence[0].item<double>(), 1e-6);
  EXPECT_GT(imp.block_influence[1].item<double>(), 1e-3);
  EXPECT_EQ(imp.heads[1][0].item<float>(), 0.0f);
  EXPECT_EQ(imp.heads[1][1].item<float>(), 0.0f);
  EXPECT_GT(imp.heads[1][2].item<float>(), 0.0f);
  EXPECT_EQ(imp.channels[1][5].item<float>(), 0.0f);
  EXPECT_GT(imp.channels[1][4].item<float>(), 0.0f);
  EXPECT_TRUE((imp.hidden > 0).all().item<bool>());
  EXPECT_EQ(imp.heads.sizes(), (std::vector<std::int64_t>{2, 4}));
}

TEST(StudentInit, PruningByImportanceRemovesDeadPartsWithoutChangingTheOutput) {
  TempDir tmp;
  models::CausalLM t = dead_parts_teacher();
  models::save_model(*t, tmp.file("teacher"));
  student::Recipe r;
  r.layers = 1;     // block influence drops the pass-through layer 0
  r.kv_heads = 1;   // the group whose values are zero
  r.heads = 2;
  r.intermediate = 95;  // channel 5
  r.calibration = write_calibration(tmp, t->spec().vocab_size);
  const student::BuildResult b = student::build_student(tmp.file("teacher"), tmp.file("student"), r);
  EXPECT_EQ(b.layers, (Indices{1}));
  models::CausalLM s = models::load_model(tmp.file("student"));
  const at::Tensor ids = sample_ids(t->spec().vocab_size);
  EXPECT_LT(testing::max_rel_error(logits(*s, ids), logits(*t, ids)), 1e-5);
}

TEST(StudentInit, HiddenPruningGivesALoadableNarrowerModel) {
  for (const std::string name : {"llama", "qwen3", "opt", "gpt2", "opt_postnorm"}) {
    SCOPED_TRACE(name);
    TempDir tmp;
    const models::ModelSpec t = models::read_spec(model_dir(name));
    student::Recipe r;
    r.layers = 1;
    r.intermediate = 64;
    // OPT and GPT-2 need hidden = heads * head_dim: 3 heads of 12 (opt_postnorm: word_embed_proj_dim stays 32).
    r.heads = t.num_kv_heads < t.num_heads ? 2 : 3;
    r.hidden = t.num_kv_heads < t.num_heads ? 40 : 3 * t.head_dim;
    r.calibration = write_calibration(tmp, t.vocab_size);
    student::build_student(model_dir(name), tmp.file("student"), r);
    models::CausalLM s = models::load_model(tmp.file("student"));
    EXPECT_EQ(s->spec().hidden_size, r.hidden);
    EXPECT_EQ(s->spec().num_heads, r.heads);
    EXPECT_EQ(s->spec().head_dim, t.head_dim);  // RoPE layout: whole heads of the teacher's width
    EXPECT_EQ(s->spec().intermediate_size, 64);
    EXPECT_EQ(s->spec().embed_dim, name == "opt_postnorm" ? t.embed_dim : r.hidden);
    const at::Tensor out = logits(*s, sample_ids(t.vocab_size));
    EXPECT_TRUE(at::isfinite(out).all().item<bool>());
  }
}

// ------------------------------------------------------------------ errors
void expect_usage_error(const std::string& teacher, const student::Recipe& r, student::Naming naming,
                        const std::vector<std::string>& needles) {
  TempDir tmp;
  try {
    student::build_student(teacher, tmp.file("student"), r, naming);
    ADD_FAILURE() << "expected a UsageError";
  } catch (const UsageError& e) {
    const std::string text = std::string(e.what()) + "\n" + e.hint();
    for (const auto& n : needles) EXPECT_NE(text.find(n), std::string::npos) << text;
  }
  EXPECT_FALSE(files::exists(tmp.file("student")));
}

TEST(StudentInit, BadRecipesNameTheirFlagOrKey) {
  student::Recipe r;
  r.keep_layers = {0, 2};
  expect_usage_error(model_dir("llama"), r, student::Naming::kConfig, {"student.init.keep_layers", "layer 2"});
  r.keep_layers = {1, 0};
  expect_usage_error(model_dir("llama"), r, student::Naming::kFlags, {"--keep-layers", "increasing"});
  r = {};
  r.layers = 3;
  expect_usage_error(model_dir("llama"), r, student::Naming::kFlags, {"--layers", "between 1 and 2"});
  r = {};
  r.heads = 3;  // 2 groups of 2 cannot keep 3 heads evenly
  r.calibration = "unused.jsonl";
  expect_usage_error(model_dir("llama"), r, student::Naming::kFlags, {"--heads", "--kv-heads"});
  r = {};
  r.intermediate = 10;  // width needs calibration data
  expect_usage_error(model_dir("llama"), r, student::Naming::kFlags, {"--calibration", "--random"});
  r = {};
  r.heads = 2;  // OPT: head_dim = hidden / heads, so 2 heads of 12 need hidden 24
  r.random = true;
  expect_usage_error(model_dir("opt"), r, student::Naming::kFlags, {"--hidden 24"});
}

// ------------------------------------------------------------------ random students
TEST(StudentInit, RandomStudentsFollowTheirFamilysInitScheme) {
  TempDir tmp;
  student::Recipe r;
  r.random = true;
  r.layers = 1;
  student::build_student(model_dir("gpt2"), tmp.file("gpt2"), r);
  models::CausalLM g = models::load_model(tmp.file("gpt2"));
  EXPECT_EQ(g->spec().num_layers, 1);
  auto p = g->named_parameters();
  // transformers' GPT2PreTrainedModel._init_weights: N(0, 0.02), c_proj N(0, 0.02 / sqrt(2 * n_layer)).
  EXPECT_NEAR(p["embed.weight"].std().item<double>(), 0.02, 0.002);
  EXPECT_NEAR(p["layers.0.mlp.down.weight"].std().item<double>(), 0.02 / std::sqrt(2.0), 0.0015);
  EXPECT_EQ(p["layers.0.mlp.up.bias"].abs().max().item<double>(), 0.0);
  EXPECT_EQ(p["layers.0.attn_norm.weight"].min().item<double>(), 1.0);

  // OPT's embedding has padding_idx = pad_token_id (1): that row starts at zero.
  student::build_student(model_dir("opt"), tmp.file("opt"), r);
  models::CausalLM o = models::load_model(tmp.file("opt"));
  EXPECT_EQ(o->named_parameters()["embed.weight"][1].abs().max().item<double>(), 0.0);
  EXPECT_GT(o->named_parameters()["embed.weight"][2].abs().max().item<double>(), 0.0);
  EXPECT_EQ(models::init_scheme(o->spec()).padding_row, 1);
}

}  // namespace
}  // namespace distill
