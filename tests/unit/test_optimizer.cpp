// AdamW against its definition, hand-computed numbers and LibTorch's torch::optim::AdamW; weight-decay
// groups; the update paths agree; parameters without a gradient are skipped.
#include <gtest/gtest.h>
#include <torch/optim/adamw.h>

#include <stdexcept>
#include <vector>

#include "distill/config/config.h"
#include "distill/train/grad_clip.h"
#include "distill/train/optimizer.h"
#include "distill/util/errors.h"
#include "optimizer_test_helpers.h"

namespace distill::train {
namespace {

using test::clone_params;
using test::make_params;
using test::ReferenceAdamW;
using test::rel_diff;
using test::set_grads;

// The learning rate of step s in these tests: changes every step, as a schedule's does.
double lr_of(std::int64_t s) { return 0.01 * (1.0 + 0.5 * static_cast<double>(s % 3)); }

// make_params: proj.weight, proj.bias, norm.weight, embed.weight, scale; the matrices are decayed.
const std::vector<bool> kMatricesOnly = {true, false, false, true, false};

std::vector<at::Tensor> grads_of(const NamedTensors& params) {
  std::vector<at::Tensor> grads;
  for (const auto& entry : params) grads.push_back(entry.second.grad().clone());
  return grads;
}

TEST(AdamWGroups, NormsBiasesAndScalarsAreExemptByDefault) {
  const NamedTensors params = make_params(at::kFloat);
  EXPECT_FALSE(is_norm_or_bias("layers.0.proj.weight", params[0].second));
  EXPECT_TRUE(is_norm_or_bias("layers.0.proj.bias", params[1].second));
  EXPECT_TRUE(is_norm_or_bias("layers.0.norm.weight", params[2].second));
  EXPECT_FALSE(is_norm_or_bias("embed.weight", params[3].second));
  EXPECT_TRUE(is_norm_or_bias("scale", params[4].second));
  EXPECT_TRUE(is_norm_or_bias("conv.bias", at::zeros({2, 2})));  // by name, whatever its shape

  AdamW exempting(params, AdamWOptions{});
  EXPECT_TRUE(exempting.decays("layers.0.proj.weight"));
  EXPECT_FALSE(exempting.decays("layers.0.proj.bias"));
  EXPECT_FALSE(exempting.decays("layers.0.norm.weight"));
  EXPECT_TRUE(exempting.decays("embed.weight"));
  EXPECT_FALSE(exempting.decays("scale"));

  AdamWOptions all;
  all.decay_norms_and_biases = true;
  AdamW decaying(params, all);
  for (const auto& [name, t] : params) EXPECT_TRUE(decaying.decays(name)) << name;
}

// Several steps with weight decay, exempt tensors and a changing lr, for each update path, against
// the definition in fp64 (so the only differences are rounding in a different order of operations).
// Weight decay moves a parameter by about lr * wd = 3e-3 of itself per step, far above the bound, so
// decaying an exempt tensor (or not decaying a matrix) fails the comparison.
TEST(AdamW, MatchesTheDefinitionWithDecayAndExemptGroups) {
  for (const AdamWImpl impl : {AdamWImpl::kLoop, AdamWImpl::kForeach, AdamWImpl::kAuto}) {
    for (const bool decay_all : {false, true}) {
      const NamedTensors params = make_params(at::kDouble);
      AdamWOptions o;
      o.beta1 = 0.8;
      o.beta2 = 0.95;
      o.eps = 1e-6;
      o.weight_decay = 0.3;
      o.decay_norms_and_biases = decay_all;
      o.impl = impl;
      AdamW opt(params, o);
      const std::vector<bool> decayed = decay_all ? std::vector<bool>(5, true) : kMatricesOnly;
      ReferenceAdamW ref(params, decayed, o.beta1, o.beta2, o.eps, o.weight_decay);
      for (std::int64_t s = 0; s < 5; ++s) {
        set_grads(params, s);
        ref.step(grads_of(params), lr_of(s));
        opt.step(lr_of(s));
      }
      EXPECT_EQ(opt.step_count(), 5);
      for (std::size_t i = 0; i < params.size(); ++i) {
        EXPECT_LT(rel_diff(params[i].second, ref.params[i]), 1e-13)
            << impl_name(impl) << " decay_all=" << decay_all << " " << params[i].first;
      }
    }
  }
}

// One element, two steps, worked out by hand (40-digit decimal arithmetic):
//   p0 = 1, lr = 0.1 then 0.05, g = 0.5 then -0.25, betas (0.9, 0.999), eps 1e-8, wd 0.1
//   t=1: p = 0.99; m = 0.05; v = 0.00025; m_hat = 0.5; v_hat = 0.25
//        p = 0.99 - 0.1 * 0.5 / (0.5 + 1e-8)                       = 0.88999999800000004
//   t=2: p = 0.89000000199999996 * 0.995; m = 0.02; v = 0.00031225
//        p -= 0.05 * (0.02 / 0.19) / (sqrt(0.00031225 / 0.001999) + 1e-8) -> 0.87223315034392306
TEST(AdamW, HandComputedOneElementTwoSteps) {
  for (const AdamWImpl impl : {AdamWImpl::kLoop, AdamWImpl::kForeach}) {
    const at::Tensor p = at::ones({1}, at::kDouble).set_requires_grad(true);
    AdamWOptions o;
    o.weight_decay = 0.1;
    o.decay_norms_and_biases = true;  // a 1-D tensor: decayed only when asked
    o.impl = impl;
    AdamW opt({{"w", p}}, o);
    p.mutable_grad() = at::full({1}, 0.5, at::kDouble);
    opt.step(0.1);
    EXPECT_NEAR(p.item<double>(), 0.8900000019999999600, 1e-15) << impl_name(impl);
    p.mutable_grad() = at::full({1}, -0.25, at::kDouble);
    opt.step(0.05);
    EXPECT_NEAR(p.item<double>(), 0.8722331503439230615, 1e-15) << impl_name(impl);
    const OptimizerState st = opt.state();
    EXPECT_NEAR(st.tensors[0].second.item<double>(), 0.02, 1e-17);        // w.exp_avg
    EXPECT_NEAR(st.tensors[1].second.item<double>(), 0.00031225, 1e-18);  // w.exp_avg_sq
  }
}

// LibTorch's own AdamW with two parameter groups (weight decay / none). Its update is written with
// the same tensor ops as the loop path, so in fp32 on the CPU the results agree to the bit.
TEST(AdamW, MatchesLibTorchAdamWWithTwoGroups) {
  const NamedTensors params = make_params(at::kFloat);
  const NamedTensors theirs = clone_params(params);
  AdamWOptions o;
  o.weight_decay = 0.1;
  o.impl = AdamWImpl::kLoop;
  AdamW opt(params, o);

  std::vector<at::Tensor> decayed, exempt;
  for (std::size_t i = 0; i < theirs.size(); ++i) (kMatricesOnly[i] ? decayed : exempt).push_back(theirs[i].second);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decayed, std::make_unique<torch::optim::AdamWOptions>(
                                   torch::optim::AdamWOptions(0.01).weight_decay(0.1)));
  groups.emplace_back(exempt, std::make_unique<torch::optim::AdamWOptions>(
                                  torch::optim::AdamWOptions(0.01).weight_decay(0.0)));
  torch::optim::AdamW torch_adamw(std::move(groups), torch::optim::AdamWOptions(0.01));

  for (std::int64_t s = 0; s < 6; ++s) {
    set_grads(params, s);
    for (std::size_t i = 0; i < params.size(); ++i) theirs[i].second.mutable_grad() = params[i].second.grad().clone();
    for (auto& group : torch_adamw.param_groups()) {
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr_of(s));
    }
    opt.step(lr_of(s));
    torch_adamw.step();
  }
  for (std::size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(at::equal(params[i].second, theirs[i].second))
        << params[i].first << ": rel diff " << rel_diff(params[i].second, theirs[i].second);
  }
}

// On the CPU the foreach ops run the loop's tensor ops, so the two paths agree to the bit.
TEST(AdamW, ForeachAndLoopAreBitIdenticalOnCpu) {
  const NamedTensors a = make_params(at::kFloat);
  const NamedTensors b = clone_params(a);
  AdamWOptions o;
  o.impl = AdamWImpl::kForeach;
  AdamW foreach_opt(a, o);
  o.impl = AdamWImpl::kLoop;
  AdamW loop_opt(b, o);
  for (std::int64_t s = 0; s < 4; ++s) {
    set_grads(a, s);
    set_grads(b, s);
    foreach_opt.step(lr_of(s));
    loop_opt.step(lr_of(s));
  }
  EXPECT_EQ(foreach_opt.impl(), AdamWImpl::kForeach);
  EXPECT_EQ(loop_opt.impl(), AdamWImpl::kLoop);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
}

// step(lr, grad_scale) is clip_grad_norm_'s scaling and then step(lr): on the CPU paths the very
// same multiply, so the parameters and the (scaled) gradients left behind are equal to the bit.
TEST(AdamW, GradScaleIsTheClipsMultiplyBeforeTheStep) {
  for (const AdamWImpl impl : {AdamWImpl::kLoop, AdamWImpl::kForeach}) {
    const NamedTensors a = make_params(at::kFloat);
    const NamedTensors b = clone_params(a);
    AdamWOptions o;
    o.impl = impl;
    o.weight_decay = 0.1;
    AdamW scaled(a, o), clipped(b, o);
    std::vector<at::Tensor> pa, pb;
    for (const auto& e : a) pa.push_back(e.second);
    for (const auto& e : b) pb.push_back(e.second);
    for (std::int64_t s = 0; s < 3; ++s) {
      set_grads(a, s);
      set_grads(b, s);
      const at::Tensor coef = clip_coefficient(grad_norm(pa), 0.05);
      ASSERT_LT(coef.item<double>(), 1.0) << "the gradients are clipped";
      scaled.step(lr_of(s), coef);
      clip_grad_norm_(pb, 0.05);
      clipped.step(lr_of(s));
      for (std::size_t i = 0; i < a.size(); ++i) {
        EXPECT_TRUE(at::equal(a[i].second.grad(), b[i].second.grad())) << a[i].first << " step " << s;
      }
    }
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
  }
}

// As torch: a parameter without a gradient keeps its value, moments and step count; when it gets
// a gradient later its bias correction starts at t = 1.
TEST(AdamW, SkipsParametersWithoutGradient) {
  const NamedTensors params = make_params(at::kDouble);
  AdamWOptions o;
  o.weight_decay = 0.1;
  AdamW opt(params, o);
  ReferenceAdamW ref(params, kMatricesOnly, o.beta1, o.beta2, o.eps, o.weight_decay);
  const at::Tensor embed_before = params[3].second.detach().clone();
  for (std::int64_t s = 0; s < 4; ++s) {
    set_grads(params, s);
    if (s < 2) params[3].second.mutable_grad() = at::Tensor();  // embed.weight: no gradient at steps 0, 1
    std::vector<at::Tensor> grads;
    for (const auto& entry : params) grads.push_back(entry.second.grad().defined() ? entry.second.grad().clone() : at::Tensor());
    ref.step(grads, lr_of(s));
    opt.step(lr_of(s));
    if (s == 1) {
      EXPECT_TRUE(at::equal(params[3].second, embed_before));
    }
  }
  for (std::size_t i = 0; i < params.size(); ++i) EXPECT_LT(rel_diff(params[i].second, ref.params[i]), 1e-13) << i;
  const OptimizerState st = opt.state();
  EXPECT_EQ(st.tensors[3 * 3 + 2].first, "embed.weight.step");
  EXPECT_EQ(st.tensors[3 * 3 + 2].second.item<std::int64_t>(), 2);
  EXPECT_EQ(st.tensors[2].second.item<std::int64_t>(), 4);
  EXPECT_EQ(st.meta["step"], 4);
}

// On the CPU (no fused kernel) a step's `skip` flag is read on the host: 1 changes nothing and
// counts nothing; 0 is the ordinary step. uncount() takes back what a step counted.
TEST(AdamW, SkipFlagOnTheHostPathAndUncount) {
  const NamedTensors params = make_params(at::kDouble);
  const NamedTensors twin_params = clone_params(params);
  AdamWOptions o;
  o.weight_decay = 0.1;
  AdamW opt(params, o), twin(twin_params, o);
  EXPECT_FALSE(opt.skips_on_device());
  for (std::int64_t s = 0; s < 3; ++s) {
    set_grads(params, s);
    set_grads(twin_params, s);
    twin.step(lr_of(s));
    const AdamW::Counted c = opt.step(lr_of(s), at::Tensor(), at::zeros({}, at::kFloat));
    EXPECT_TRUE(c.counted);
    EXPECT_EQ(c.slots.size(), params.size());
    if (s == 1) {
      set_grads(params, 7);
      const NamedTensors before = clone_params(params);
      const AdamW::Counted skipped = opt.step(lr_of(s), at::Tensor(), at::ones({}, at::kFloat));
      EXPECT_FALSE(skipped.counted);
      EXPECT_TRUE(skipped.slots.empty());
      for (std::size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(at::equal(params[i].second, before[i].second));
    }
  }
  for (std::size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(at::equal(params[i].second, twin_params[i].second));
  EXPECT_EQ(opt.step_count(), 3);

  set_grads(params, 3);
  params[3].second.mutable_grad() = at::Tensor();  // embed.weight has no gradient this step
  const AdamW::Counted c = opt.step(lr_of(3));
  EXPECT_EQ(c.slots.size(), params.size() - 1);
  EXPECT_EQ(opt.step_count(), 4);
  opt.uncount(c);
  EXPECT_EQ(opt.step_count(), 3);
  const OptimizerState st = opt.state();
  for (std::size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(st.tensors[3 * i + 2].second.item<std::int64_t>(), 3) << st.tensors[3 * i + 2].first;
  }
}

TEST(AdamW, ZeroGradClearsGradients) {
  const NamedTensors params = make_params(at::kFloat);
  AdamW opt(params, AdamWOptions{});
  set_grads(params, 0);
  opt.zero_grad();
  for (const auto& entry : params) EXPECT_FALSE(entry.second.grad().defined()) << entry.first;
  opt.step(0.1);  // nothing to update
  EXPECT_EQ(opt.state().tensors[2].second.item<std::int64_t>(), 0);
}

TEST(AdamW, RejectsBadParametersAndOptions) {
  const at::Tensor w = at::zeros({2, 2});
  EXPECT_THROW(AdamW({{"w", w.to(at::kBFloat16)}}, AdamWOptions{}), std::invalid_argument);
  EXPECT_THROW(AdamW({{"w", w}, {"w", at::zeros({2})}}, AdamWOptions{}), std::invalid_argument);
  EXPECT_THROW(AdamW({{"w", w}, {"tied", w}}, AdamWOptions{}), std::invalid_argument);
  AdamWOptions bad;
  bad.beta2 = 1.0;
  EXPECT_THROW(AdamW({{"w", w}}, bad), std::invalid_argument);
  AdamW ok({{"w", w}}, AdamWOptions{});
  EXPECT_THROW(ok.step(-1.0), std::invalid_argument);
  if (!fused_adamw_built()) {
    AdamWOptions fused;
    fused.impl = AdamWImpl::kFused;
    EXPECT_THROW(AdamW({{"w", w}}, fused), std::invalid_argument);
  }
}

TEST(AdamWOptions, FromConfig) {
  config::OptimConfig c;
  c.betas = {0.8, 0.95};
  c.eps = 1e-6;
  c.weight_decay = 0.05;
  c.decay_norms_and_biases = true;
  const AdamWOptions o = AdamWOptions::from_config(c);
  EXPECT_EQ(o.beta1, 0.8);
  EXPECT_EQ(o.beta2, 0.95);
  EXPECT_EQ(o.eps, 1e-6);
  EXPECT_EQ(o.weight_decay, 0.05);
  EXPECT_TRUE(o.decay_norms_and_biases);
  EXPECT_EQ(o.impl, AdamWImpl::kAuto);
  c.betas = {0.9};
  EXPECT_THROW(AdamWOptions::from_config(c), UsageError);
}

}  // namespace
}  // namespace distill::train
