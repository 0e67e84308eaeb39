// The record of the optimizer's low-precision weight copies (distill/util/weight_copies.h) and the
// host side of the late finiteness check (src/train/deferred_flags.h), on the CPU: a copy is read
// while its parameter is unchanged, a cast is made once the parameter changes; flags come back as
// queued.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <limits>
#include <stdexcept>
#include <vector>

#include "../../src/train/deferred_flags.h"
#include "distill/util/weight_copies.h"

namespace distill {
namespace {

TEST(WeightCopies, CurrentCopyIsReadAndAChangedParameterIsCast) {
  const at::Tensor param = at::randn({4, 3}).set_requires_grad(true);
  const at::Tensor copy = param.detach().to(at::kBFloat16) + 1;  // tellable from a fresh cast
  const std::int64_t before = weight_copies();
  set_weight_copy(param, copy);
  EXPECT_EQ(weight_copies(), before + 1);

  const std::int64_t reads = weight_copy_reads();
  EXPECT_TRUE(weight_in(param, at::kBFloat16).is_same(copy));
  EXPECT_EQ(weight_copy_reads(), reads + 1);
  // Another dtype, or the parameter's own: no copy of it.
  EXPECT_TRUE(at::equal(weight_in(param, at::kHalf), param.detach().to(at::kHalf)));
  EXPECT_TRUE(weight_in(param, at::kFloat).is_same(param));

  {
    at::NoGradGuard no_grad;
    param.mul_(2);  // an in-place change: the copy is stale
  }
  const at::Tensor cast = weight_in(param, at::kBFloat16);
  EXPECT_FALSE(cast.is_same(copy));
  EXPECT_TRUE(at::equal(cast, param.detach().to(at::kBFloat16)));
  EXPECT_EQ(weight_copy_reads(), reads + 1);

  set_weight_copy(param, cast);  // recorded again at the new version
  EXPECT_TRUE(weight_in(param, at::kBFloat16).is_same(cast));
  forget_weight_copy(param);
  EXPECT_EQ(weight_copies(), before);
  EXPECT_FALSE(weight_in(param, at::kBFloat16).is_same(cast));
}

TEST(WeightCopies, NewMemoryUnderTheSameTensorIsCast) {
  at::Tensor param = at::randn({6});
  const at::Tensor copy = at::zeros({6}, at::kBFloat16);
  set_weight_copy(param, copy);
  EXPECT_TRUE(weight_in(param, at::kBFloat16).is_same(copy));
  param.set_data(at::randn({6}));  // as layer streaming swaps a layer's memory: no new version
  EXPECT_TRUE(at::equal(weight_in(param, at::kBFloat16), param.to(at::kBFloat16)));
  forget_weight_copy(param);
}

TEST(WeightCopies, AnotherTensorOfTheSameValuesHasNoCopy) {
  const at::Tensor param = at::randn({5});
  const at::Tensor twin = param.clone();
  const at::Tensor copy = at::zeros({5}, at::kBFloat16);
  set_weight_copy(param, copy);
  EXPECT_TRUE(at::equal(weight_in(twin, at::kBFloat16), twin.to(at::kBFloat16)));
  forget_weight_copy(param);
}

TEST(DeferredFlags, GivesBackWhatWasQueued) {
  train::DeferredFlags flags;
  EXPECT_THROW(flags.finish(), std::logic_error);
  flags.start(at::tensor({1, 0, 1}).to(at::kBool));
  EXPECT_EQ(flags.finish(), (std::vector<bool>{true, false, true}));
  EXPECT_THROW(flags.finish(), std::logic_error) << "each start gives one finish";
  flags.start(at::isfinite(at::tensor({1.0f, std::numeric_limits<float>::quiet_NaN()})));
  EXPECT_EQ(flags.finish(), (std::vector<bool>{true, false}));
}

}  // namespace
}  // namespace distill
