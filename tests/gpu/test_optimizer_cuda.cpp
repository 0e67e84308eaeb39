// GPU tests (ctest label "gpu"): the fused and foreach AdamW paths on CUDA against the per-tensor
// loop, fused resume, and gradient clipping on CUDA against the CPU.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include <vector>

#include "distill/train/grad_clip.h"
#include "distill/train/optimizer.h"
#include "distill/util/weight_copies.h"

namespace distill::train {
namespace {

// Matrices, biases, a norm and odd sizes (numel not a multiple of the kernels' vector width).
NamedTensors make_params(const at::Device& device) {
  at::Generator gen = at::detail::createCPUGenerator(11);
  NamedTensors p;
  p.emplace_back("layers.0.qkv.weight", at::randn({96, 48}, gen));
  p.emplace_back("layers.0.qkv.bias", at::randn({96}, gen));
  p.emplace_back("layers.0.norm.weight", 1 + 0.1 * at::randn({48}, gen));
  p.emplace_back("layers.0.down.weight", at::randn({48, 131}, gen));
  p.emplace_back("embed.weight", at::randn({1000, 48}, gen));
  p.emplace_back("odd", at::randn({7, 3}, gen));
  for (auto& [name, t] : p) t = t.to(device).set_requires_grad(true);
  return p;
}

NamedTensors copy_to(const NamedTensors& params, const at::Device& device) {
  NamedTensors out;
  for (const auto& [name, t] : params) out.emplace_back(name, t.detach().to(device, /*non_blocking=*/false, /*copy=*/true).set_requires_grad(true));
  return out;
}

// Random gradients made on the CPU (same values for every copy), with different scales per tensor.
std::vector<at::Tensor> make_grads(const NamedTensors& params, std::uint64_t step) {
  at::Generator gen = at::detail::createCPUGenerator(100 + step);
  std::vector<at::Tensor> g;
  for (std::size_t i = 0; i < params.size(); ++i) {
    g.push_back(at::randn(params[i].second.sizes(), gen) * (0.01 * static_cast<double>(i + 1)));
  }
  return g;
}

void set_grads(const NamedTensors& params, const std::vector<at::Tensor>& grads) {
  for (std::size_t i = 0; i < params.size(); ++i) params[i].second.mutable_grad() = grads[i].to(params[i].second.device());
}

// max |a - b| / max |b| over one tensor, compared on the CPU.
double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor x = a.detach().cpu(), y = b.detach().cpu();
  return (x - y).abs().max().item<double>() / y.abs().max().item<double>();
}

double lr_of(int s) { return 1e-3 * (1.0 + 0.25 * s); }

// Weight decay 0.1 (so the decayed and exempt batches both run) on the path `impl`.
AdamWOptions decayed(AdamWImpl impl) {
  AdamWOptions o;
  o.weight_decay = 0.1;
  o.impl = impl;
  return o;
}

// Runs `steps` AdamW steps with `impl` on a copy of `initial` on `device`; returns the parameters
// and the final state tensors.
std::pair<NamedTensors, OptimizerState> run(const NamedTensors& initial, const at::Device& device, AdamWImpl impl,
                                            int steps, AdamWImpl* used = nullptr) {
  NamedTensors params = copy_to(initial, device);
  AdamW opt(params, decayed(impl));
  for (int s = 0; s < steps; ++s) {
    set_grads(params, make_grads(params, s));
    opt.step(lr_of(s));
  }
  if (used) *used = opt.impl();
  return {params, opt.state()};
}

TEST(AdamWCuda, FusedMatchesTheLoop) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  ASSERT_TRUE(fused_adamw_built()) << "this build has no at::_fused_adamw_ (LibTorch >= 2.1 with CUDA)";
  const NamedTensors initial = make_params(at::kCPU);
  AdamWImpl used = AdamWImpl::kAuto;
  const auto [fused, fused_state] = run(initial, at::kCUDA, AdamWImpl::kAuto, 5, &used);
  EXPECT_EQ(used, AdamWImpl::kFused);
  const auto [loop, loop_state] = run(initial, at::kCUDA, AdamWImpl::kLoop, 5);
  const auto [cpu, cpu_state] = run(initial, at::kCPU, AdamWImpl::kLoop, 5);
  for (std::size_t i = 0; i < initial.size(); ++i) {
    // One fp32 kernel against separate fp32 ops: the same update, rounded at different points.
    EXPECT_LT(rel_diff(fused[i].second, loop[i].second), 1e-6) << fused[i].first;
    EXPECT_LT(rel_diff(loop[i].second, cpu[i].second), 1e-6) << loop[i].first;
    // ... and far from the start, so the bound means something.
    EXPECT_GT(rel_diff(fused[i].second, initial[i].second.to(at::kCUDA)), 1e-4) << fused[i].first;
  }
  for (std::size_t i = 0; i < fused_state.tensors.size(); ++i) {
    const at::Tensor& a = fused_state.tensors[i].second;
    const at::Tensor& b = loop_state.tensors[i].second;
    if (a.scalar_type() == at::kLong) {
      EXPECT_TRUE(at::equal(a, b)) << fused_state.tensors[i].first;
    } else {
      // The fused kernel updates the moments as lerp(m, g, 1 - b1) (m + (1-b1)(g - m)), the loop as
      // b1*m + (1-b1)*g: equal in exact arithmetic, 1.3e-5 apart after 5 fp32 steps (measured on
      // the H200), while the parameters agree to 1e-6 above.
      EXPECT_LT(rel_diff(a, b), 5e-5) << fused_state.tensors[i].first;
    }
  }
}

TEST(AdamWCuda, ForeachMatchesTheLoop) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  const NamedTensors initial = make_params(at::kCPU);
  AdamWImpl used = AdamWImpl::kAuto;
  const auto [foreach_params, unused1] = run(initial, at::kCUDA, AdamWImpl::kForeach, 5, &used);
  EXPECT_EQ(used, AdamWImpl::kForeach);
  const auto [loop, unused2] = run(initial, at::kCUDA, AdamWImpl::kLoop, 5);
  for (std::size_t i = 0; i < initial.size(); ++i) {
    EXPECT_LT(rel_diff(foreach_params[i].second, loop[i].second), 1e-6) << loop[i].first;
  }
}

// The fused kernel's step counts (float32 on the device) are rebuilt from the saved int64 counts.
TEST(AdamWCuda, FusedResumeIsBitExact) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  ASSERT_TRUE(fused_adamw_built());
  const NamedTensors initial = make_params(at::kCPU);
  const auto [straight, unused] = run(initial, at::kCUDA, AdamWImpl::kFused, 6);

  NamedTensors params = copy_to(initial, at::kCUDA);
  const AdamWOptions o = decayed(AdamWImpl::kFused);
  OptimizerState saved;
  {
    AdamW first(params, o);
    for (int s = 0; s < 3; ++s) {
      set_grads(params, make_grads(params, s));
      first.step(lr_of(s));
    }
    saved = first.state();
    for (auto& entry : saved.tensors) entry.second = entry.second.cpu();  // as read back from a file
  }
  NamedTensors weights = copy_to(params, at::kCUDA);
  AdamW second(weights, o);
  second.load_state(saved, "optimizer.safetensors");
  for (int s = 3; s < 6; ++s) {
    set_grads(weights, make_grads(weights, s));
    second.step(lr_of(s));
  }
  EXPECT_EQ(second.impl(), AdamWImpl::kFused);
  for (std::size_t i = 0; i < straight.size(); ++i) {
    EXPECT_TRUE(at::equal(straight[i].second, weights[i].second)) << straight[i].first;
  }
}

// The clip's coefficient handed to the fused kernel (a division by its reciprocal inside the
// kernel) against the clip's own multiply before the fused step: within an ulp per gradient, so the
// parameters agree to fp32 rounding over 5 steps; the gradients are left scaled in both.
TEST(AdamWCuda, FusedGradScaleMatchesTheClipThenTheStep) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  ASSERT_TRUE(fused_adamw_built()) << "this build has no at::_fused_adamw_ (LibTorch >= 2.1 with CUDA)";
  const NamedTensors initial = make_params(at::kCPU);
  const NamedTensors a = copy_to(initial, at::kCUDA), b = copy_to(initial, at::kCUDA);
  AdamWOptions o;
  o.weight_decay = 0.1;
  AdamW scaled(a, o), clipped(b, o);
  std::vector<at::Tensor> pa, pb;
  for (const auto& e : a) pa.push_back(e.second);
  for (const auto& e : b) pb.push_back(e.second);
  for (int s = 0; s < 5; ++s) {
    const std::vector<at::Tensor> grads = make_grads(a, s);
    set_grads(a, grads);
    set_grads(b, grads);
    const at::Tensor coef = clip_coefficient(grad_norm(pa), 0.1);
    ASSERT_LT(coef.item<double>(), 1.0) << "the gradients are clipped";
    scaled.step(lr_of(s), coef);
    clip_grad_norm_(pb, 0.1);
    clipped.step(lr_of(s));
    for (std::size_t i = 0; i < a.size(); ++i) {
      EXPECT_LT(rel_diff(a[i].second.grad(), b[i].second.grad()), 1e-6) << a[i].first << " step " << s;
    }
  }
  EXPECT_EQ(scaled.impl(), AdamWImpl::kFused);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_LT(rel_diff(a[i].second, b[i].second), 1e-6) << a[i].first;
    EXPECT_GT(rel_diff(a[i].second, initial[i].second.to(at::kCUDA)), 1e-4) << a[i].first;
  }
}

TEST(GradClipCuda, MatchesTheCpu) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  const NamedTensors cpu = make_params(at::kCPU);
  const NamedTensors gpu = copy_to(cpu, at::kCUDA);
  const std::vector<at::Tensor> grads = make_grads(cpu, 0);
  set_grads(cpu, grads);
  set_grads(gpu, grads);
  std::vector<at::Tensor> cpu_params, gpu_params;
  for (const auto& e : cpu) cpu_params.push_back(e.second);
  for (const auto& e : gpu) gpu_params.push_back(e.second);
  const at::Tensor n_cpu = clip_grad_norm_(cpu_params, 0.1);
  const at::Tensor n_gpu = clip_grad_norm_(gpu_params, 0.1);
  EXPECT_TRUE(n_gpu.is_cuda());
  EXPECT_NEAR(n_gpu.item<double>(), n_cpu.item<double>(), 1e-5 * n_cpu.item<double>());
  ASSERT_GT(n_cpu.item<double>(), 0.1);  // clipping happened
  for (std::size_t i = 0; i < cpu.size(); ++i) {
    EXPECT_LT(rel_diff(gpu_params[i].grad(), cpu_params[i].grad()), 1e-5) << cpu[i].first;
  }
}

// A step told to skip on the device (found_inf) changes nothing, not the device's step counts
// either: with uncount() after it, the run continues as if the step had not been there, to the bit.
TEST(AdamWCuda, FusedStepSkippedOnTheDeviceLeavesNoTrace) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  ASSERT_TRUE(fused_adamw_built());
  const NamedTensors initial = make_params(at::kCPU);
  const AdamWOptions o = decayed(AdamWImpl::kFused);
  NamedTensors plain_params = copy_to(initial, at::kCUDA), skipping_params = copy_to(initial, at::kCUDA);
  AdamW plain(plain_params, o), skipping(skipping_params, o);
  const at::Tensor go = at::zeros({}, at::TensorOptions().device(at::kCUDA)), stop = at::ones_like(go);
  for (int s = 0; s < 4; ++s) {
    set_grads(plain_params, make_grads(plain_params, s));
    plain.step(lr_of(s));
    set_grads(skipping_params, make_grads(skipping_params, s));
    ASSERT_TRUE(skipping.skips_on_device());
    skipping.step(lr_of(s), at::Tensor(), go);
    if (s == 1) {  // a step with wild gradients, skipped: nothing may move
      std::vector<at::Tensor> before;
      for (const auto& [name, t] : skipping_params) before.push_back(t.detach().clone());
      const OptimizerState state_before = skipping.state();
      std::vector<at::Tensor> moments_before;
      for (const auto& [name, t] : state_before.tensors) moments_before.push_back(t.clone());
      std::vector<at::Tensor> wild = make_grads(skipping_params, 99);
      for (at::Tensor& g : wild) g.mul_(1e6);
      set_grads(skipping_params, wild);
      const AdamW::Counted counted = skipping.step(lr_of(s), at::ones({}, go.options()), stop);
      EXPECT_TRUE(counted.counted);
      EXPECT_EQ(counted.slots.size(), skipping_params.size());
      skipping.uncount(counted);
      for (std::size_t i = 0; i < before.size(); ++i) {
        EXPECT_TRUE(at::equal(skipping_params[i].second.detach(), before[i])) << skipping_params[i].first;
      }
      const OptimizerState state_after = skipping.state();
      for (std::size_t i = 0; i < moments_before.size(); ++i) {
        EXPECT_TRUE(at::equal(state_after.tensors[i].second, moments_before[i])) << state_after.tensors[i].first;
      }
      EXPECT_EQ(skipping.step_count(), plain.step_count());
    }
  }
  // The steps after the skipped one used the right bias corrections (device counts went back).
  for (std::size_t i = 0; i < initial.size(); ++i) {
    EXPECT_TRUE(at::equal(skipping_params[i].second.detach(), plain_params[i].second.detach())) << initial[i].first;
  }
  const OptimizerState a = skipping.state(), b = plain.state();
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (std::size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_TRUE(at::equal(a.tensors[i].second, b.tensors[i].second)) << a.tensors[i].first;
  }
  EXPECT_EQ(a.meta["step"], b.meta["step"]);
}

// bf16_weight_copies: distill's kernel updates the parameters as _fused_adamw_ does (to fp32
// rounding), with the gradient clip's divisor and the skip flag, and leaves each parameter's bf16
// copy equal to the parameter cast, recorded for weight_in() until the parameter changes.
TEST(AdamWCuda, WeightCopiesKernelIsTheFusedUpdatePlusTheCast) {
  ASSERT_TRUE(torch::cuda::is_available()) << "the gpu label needs a CUDA device";
  ASSERT_TRUE(fused_adamw_built());
  const NamedTensors initial = make_params(at::kCPU);
  const AdamWOptions o = decayed(AdamWImpl::kFused);
  NamedTensors plain_params = copy_to(initial, at::kCUDA), copied_params = copy_to(initial, at::kCUDA);
  AdamWOptions with_copies = o;
  with_copies.bf16_weight_copies = true;
  AdamW plain(plain_params, o);
  {
    AdamW copied(copied_params, with_copies);
    const auto cuda = at::TensorOptions().device(at::kCUDA);
    for (int s = 0; s < 5; ++s) {
      const at::Tensor clip = at::full({}, s % 2 == 0 ? 1.0 : 0.37, cuda);  // a clip coefficient, odd steps
      set_grads(plain_params, make_grads(plain_params, s));
      plain.step(lr_of(s), clip);
      set_grads(copied_params, make_grads(copied_params, s));
      copied.step(lr_of(s), clip, at::zeros({}, cuda));
      if (s == 2) {  // a skipped step: nothing moves
        std::vector<at::Tensor> before;
        for (const auto& [name, t] : copied_params) before.push_back(t.detach().clone());
        set_grads(copied_params, make_grads(copied_params, 77));
        copied.uncount(copied.step(lr_of(s), clip, at::ones({}, cuda)));
        for (std::size_t i = 0; i < before.size(); ++i) {
          EXPECT_TRUE(at::equal(copied_params[i].second.detach(), before[i])) << copied_params[i].first;
        }
      }
    }
    EXPECT_EQ(weight_copies(), static_cast<std::int64_t>(initial.size()));
    for (std::size_t i = 0; i < initial.size(); ++i) {
      const at::Tensor& p = copied_params[i].second;
      // Separate fp32 kernels: the same update, rounded at a few different points.
      EXPECT_LT(rel_diff(p, plain_params[i].second), 1e-6) << initial[i].first;
      EXPECT_GT(rel_diff(p, initial[i].second.to(at::kCUDA)), 1e-4) << initial[i].first;
      const std::int64_t reads = weight_copy_reads();
      const at::Tensor copy = weight_in(p, at::kBFloat16);
      EXPECT_EQ(weight_copy_reads(), reads + 1) << initial[i].first << ": the recorded copy is current";
      EXPECT_TRUE(at::equal(copy, p.detach().to(at::kBFloat16))) << initial[i].first;
    }
    const OptimizerState a = copied.state(), b = plain.state();
    for (std::size_t i = 0; i < a.tensors.size(); ++i) {
      if (a.tensors[i].second.scalar_type() == at::kLong) {
        EXPECT_TRUE(at::equal(a.tensors[i].second, b.tensors[i].second)) << a.tensors[i].first;
      } else {
        EXPECT_LT(rel_diff(a.tensors[i].second, b.tensors[i].second), 5e-5) << a.tensors[i].first;
      }
    }
    // A parameter changed in place after the update: its copy is stale, weight_in() casts again.
    at::Tensor w = copied_params[0].second;
    {
      at::NoGradGuard no_grad;
      w.add_(1.0);
    }
    const std::int64_t reads = weight_copy_reads();
    EXPECT_TRUE(at::equal(weight_in(w, at::kBFloat16), w.detach().to(at::kBFloat16)));
    EXPECT_EQ(weight_copy_reads(), reads);
  }
  EXPECT_EQ(weight_copies(), 0) << "the optimizer forgets its copies when it goes";
}

}  // namespace
}  // namespace distill::train
