// Global gradient norm and clipping against the direct formulas (torch.nn.utils.clip_grad_norm_).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <vector>

#include "distill/train/grad_clip.h"
#include "optimizer_test_helpers.h"

namespace distill::train {
namespace {

std::vector<at::Tensor> tensors_of(const NamedTensors& params) {
  std::vector<at::Tensor> out;
  for (const auto& entry : params) out.push_back(entry.second);
  return out;
}

// sqrt(sum of g^2 over every element of every gradient), in fp64.
double direct_norm(const std::vector<at::Tensor>& params) {
  double sum = 0;
  for (const at::Tensor& p : params) {
    if (p.grad().defined()) sum += p.grad().to(at::kDouble).pow(2).sum().item<double>();
  }
  return std::sqrt(sum);
}

std::vector<at::Tensor> grads_copy(const std::vector<at::Tensor>& params) {
  std::vector<at::Tensor> out;
  for (const at::Tensor& p : params) out.push_back(p.grad().defined() ? p.grad().clone() : at::Tensor());
  return out;
}

TEST(GradClip, NormIsTheL2NormOfAllGradientsTogether) {
  const std::vector<at::Tensor> params = tensors_of(test::make_params(at::kFloat));
  for (std::size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = test::grad_for(params[i], 1, i);
  params[2].mutable_grad() = at::Tensor();  // no gradient: left out
  const at::Tensor norm = grad_norm(params);
  EXPECT_EQ(norm.dim(), 0);
  EXPECT_EQ(norm.scalar_type(), at::kFloat);
  EXPECT_NEAR(norm.item<double>(), direct_norm(params), 1e-6 * direct_norm(params));
}

TEST(GradClip, ScalesByMaxNormOverTotalWhenAbove) {
  const std::vector<at::Tensor> params = tensors_of(test::make_params(at::kFloat));
  for (std::size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = test::grad_for(params[i], 2, i) * 10;
  const double total = direct_norm(params);
  ASSERT_GT(total, 1.0);
  const std::vector<at::Tensor> before = grads_copy(params);
  const at::Tensor returned = clip_grad_norm_(params, 0.5);
  EXPECT_NEAR(returned.item<double>(), total, 1e-6 * total);  // the norm before clipping
  const double coef = 0.5 / (total + 1e-6);
  for (std::size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(at::allclose(params[i].grad(), before[i] * coef, 1e-6, 1e-9)) << i;
  }
  EXPECT_NEAR(direct_norm(params), 0.5, 1e-6);
}

TEST(GradClip, LeavesGradientsAloneWhenBelowOrOff) {
  const std::vector<at::Tensor> params = tensors_of(test::make_params(at::kFloat));
  for (std::size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = test::grad_for(params[i], 3, i);
  const double total = direct_norm(params);
  const std::vector<at::Tensor> before = grads_copy(params);
  clip_grad_norm_(params, total * 2);  // coefficient clamped to 1: a multiply by exactly 1
  for (std::size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(at::equal(params[i].grad(), before[i])) << i;
  const at::Tensor off = clip_grad_norm_(params, 0.0);  // grad_clip 0: norm only
  EXPECT_NEAR(off.item<double>(), total, 1e-6 * total);
  for (std::size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(at::equal(params[i].grad(), before[i])) << i;
}

TEST(GradClip, NonFiniteNormIsReturnedForTheCallerToSee) {
  const std::vector<at::Tensor> params = tensors_of(test::make_params(at::kFloat));
  for (std::size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = test::grad_for(params[i], 0, i);
  params[1].grad()[2] = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(std::isinf(clip_grad_norm_(params, 1.0).item<double>()));
  params[1].mutable_grad() = test::grad_for(params[1], 0, 1);
  params[3].grad()[0][0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(grad_norm(params).item<double>()));
}

TEST(GradClip, NoGradientsGiveZero) {
  const std::vector<at::Tensor> params = tensors_of(test::make_params(at::kFloat));
  EXPECT_EQ(clip_grad_norm_(params, 1.0).item<double>(), 0.0);
}

TEST(GradClip, Fp64GradientsGiveAnFp64Norm) {
  const std::vector<at::Tensor> params = tensors_of(test::make_params(at::kDouble));
  for (std::size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = test::grad_for(params[i], 4, i);
  const at::Tensor norm = grad_norm(params);
  EXPECT_EQ(norm.scalar_type(), at::kDouble);
  EXPECT_NEAR(norm.item<double>(), direct_norm(params), 1e-14 * direct_norm(params));
}

}  // namespace
}  // namespace distill::train
