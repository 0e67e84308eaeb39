// AdamW state: resuming through a safetensors file is bit-exact; loading a state that does not fit
// the model is an InputError naming the file and the tensor, and changes nothing.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <map>
#include <string>

#include "distill/io/safetensors.h"
#include "distill/train/optimizer.h"
#include "distill/util/errors.h"
#include "optimizer_test_helpers.h"
#include "test_support.h"

namespace distill::train {
namespace {

using test::clone_params;
using test::make_params;
using test::set_grads;

double lr_of(std::int64_t s) { return 1e-2 / static_cast<double>(s + 1); }

AdamWOptions options() {
  AdamWOptions o;
  o.weight_decay = 0.1;
  return o;
}

// What a checkpoint does: the state's tensors in one safetensors file, its metadata as JSON text.
OptimizerState save_and_reload(const OptimizerState& st, const std::string& path) {
  io::save_file(path, st.tensors, {{"optimizer", st.meta.dump()}});
  const io::Checkpoint file = io::Checkpoint::open(path);
  OptimizerState back;
  for (const std::string& name : file.names()) back.tensors.emplace_back(name, file.tensor(name));
  back.meta = nlohmann::ordered_json::parse(file.metadata().at("optimizer"));
  return back;
}

TEST(AdamWState, ResumeIsBitExact) {
  testing::TempDir tmp;
  for (const AdamWImpl impl : {AdamWImpl::kLoop, AdamWImpl::kForeach}) {
    AdamWOptions o = options();
    o.impl = impl;
    const NamedTensors straight = make_params(at::kFloat);
    const NamedTensors resumed = clone_params(straight);
    AdamW a(straight, o);
    for (std::int64_t s = 0; s < 6; ++s) {
      set_grads(straight, s);
      a.step(lr_of(s));
    }

    NamedTensors weights;
    {
      AdamW first(resumed, o);
      for (std::int64_t s = 0; s < 3; ++s) {
        set_grads(resumed, s);
        first.step(lr_of(s));
      }
      const OptimizerState st = save_and_reload(first.state(), tmp.file("optimizer.safetensors"));
      EXPECT_EQ(st.tensors.size(), 3 * resumed.size());
      weights = clone_params(resumed);  // the student weights as a checkpoint holds them
      AdamW second(weights, o);         // a fresh process: new optimizer, state loaded
      second.load_state(st, tmp.file("optimizer.safetensors"));
      EXPECT_EQ(second.step_count(), 3);
      for (std::int64_t s = 3; s < 6; ++s) {
        set_grads(weights, s);
        second.step(lr_of(s));
      }
      const OptimizerState mine = a.state(), theirs = second.state();
      for (std::size_t i = 0; i < mine.tensors.size(); ++i) {
        EXPECT_TRUE(at::equal(mine.tensors[i].second, theirs.tensors[i].second)) << mine.tensors[i].first;
      }
    }
    for (std::size_t i = 0; i < straight.size(); ++i) {
      EXPECT_TRUE(at::equal(straight[i].second, weights[i].second)) << impl_name(impl) << " " << straight[i].first;
    }
  }
}

TEST(AdamWState, MetadataRecordsStepAndHyperParameters) {
  const NamedTensors params = make_params(at::kFloat);
  AdamW opt(params, options());
  set_grads(params, 0);
  opt.step(0.1);
  const nlohmann::ordered_json meta = opt.state().meta;
  EXPECT_EQ(meta["optimizer"], "adamw");
  EXPECT_EQ(meta["step"], 1);
  EXPECT_EQ(meta["betas"], nlohmann::ordered_json::array({0.9, 0.999}));
  EXPECT_EQ(meta["eps"], 1e-8);
  EXPECT_EQ(meta["weight_decay"], 0.1);
  EXPECT_EQ(meta["decay_norms_and_biases"], false);
}

// Loads `st` into an optimizer that has taken one step, expects an InputError whose message holds
// every string in `needles`, and checks the optimizer's state did not change.
void expect_load_error(const OptimizerState& st, const std::vector<std::string>& needles) {
  const NamedTensors params = make_params(at::kFloat);
  AdamW opt(params, options());
  set_grads(params, 0);
  opt.step(0.1);
  const OptimizerState before = opt.state();
  std::map<std::string, at::Tensor> copies;
  for (const auto& [name, t] : before.tensors) copies[name] = t.clone();
  try {
    opt.load_state(st, "run/step-3/optimizer.safetensors");
    ADD_FAILURE() << "no error for " << needles.front();
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("run/step-3/optimizer.safetensors"), std::string::npos) << what;
    for (const std::string& n : needles) EXPECT_NE(what.find(n), std::string::npos) << what;
  }
  EXPECT_EQ(opt.step_count(), 1);
  for (const auto& [name, t] : opt.state().tensors) EXPECT_TRUE(at::equal(t, copies.at(name))) << name;
}

OptimizerState good_state() {
  const NamedTensors params = make_params(at::kFloat);
  AdamW opt(params, options());
  for (std::int64_t s = 0; s < 2; ++s) {
    set_grads(params, s);
    opt.step(0.1);
  }
  OptimizerState st = opt.state();
  for (auto& entry : st.tensors) entry.second = entry.second.clone();
  return st;
}

TEST(AdamWState, LoadErrorsNameTheFileAndTensor) {
  {
    OptimizerState st = good_state();
    st.tensors.erase(st.tensors.begin() + 1);  // layers.0.proj.weight.exp_avg_sq
    expect_load_error(st, {"no tensor 'layers.0.proj.weight.exp_avg_sq'", "parameter 'layers.0.proj.weight'"});
  }
  {
    OptimizerState st = good_state();
    st.tensors[3].second = at::zeros({6});  // layers.0.proj.bias.exp_avg: the parameter is [5]
    expect_load_error(st, {"'layers.0.proj.bias.exp_avg' has shape [6]", "has [5]"});
  }
  {
    OptimizerState st = good_state();
    st.tensors.emplace_back("lm_head.weight.exp_avg", at::zeros({7, 3}));
    expect_load_error(st, {"belong to no parameter", "'lm_head.weight.exp_avg'"});
  }
  {
    OptimizerState st = good_state();
    st.tensors[2].second = at::scalar_tensor(2.0);  // layers.0.proj.weight.step as a float
    expect_load_error(st, {"'layers.0.proj.weight.step' must be one integer"});
  }
  {
    OptimizerState st = good_state();
    st.tensors[2].second = at::scalar_tensor(9, at::kLong);  // more updates than optimizer steps
    expect_load_error(st, {"'layers.0.proj.weight.step' is 9"});
  }
  {
    OptimizerState st = good_state();
    st.tensors[0].second = at::zeros({5, 3}, at::kInt);
    expect_load_error(st, {"'layers.0.proj.weight.exp_avg' is Int"});
  }
  {
    OptimizerState st = good_state();
    st.meta["optimizer"] = "sgd";
    expect_load_error(st, {"not an AdamW state"});
  }
  {
    OptimizerState st = good_state();
    st.meta.erase("step");
    expect_load_error(st, {"\"step\""});
  }
}

TEST(AdamWState, LoadedHyperParametersDoNotOverrideTheCurrentOnes) {
  OptimizerState st = good_state();
  st.meta["weight_decay"] = 0.5;  // saved with another value: the current options win (a warning)
  const NamedTensors params = make_params(at::kFloat);
  AdamW opt(params, options());
  opt.load_state(st, "x");
  EXPECT_EQ(opt.options().weight_decay, 0.1);
  EXPECT_EQ(opt.step_count(), 2);
}

}  // namespace
}  // namespace distill::train
