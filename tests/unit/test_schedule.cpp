// Learning-rate schedule at its key steps against the formulas, and against HF transformers'
// get_{cosine,linear,constant}_schedule_with_warmup written out as in transformers/optimization.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "distill/config/config.h"
#include "distill/train/schedule.h"
#include "distill/util/errors.h"

namespace distill::train {
namespace {

constexpr double kPi = 3.14159265358979323846;

ScheduleOptions opts(Decay decay, std::int64_t warmup = 10, std::int64_t max_steps = 110, double min_ratio = 0.1) {
  ScheduleOptions o;
  o.lr = 3e-4;
  o.warmup_steps = warmup;
  o.decay = decay;
  o.min_lr_ratio = min_ratio;
  o.max_steps = max_steps;
  return o;
}

// HF's lr_lambda multipliers (transformers/optimization.py), step = scheduler's current_step.
double hf_cosine(std::int64_t s, std::int64_t warmup, std::int64_t total) {
  if (s < warmup) return static_cast<double>(s) / static_cast<double>(std::max<std::int64_t>(1, warmup));
  const double progress =
      static_cast<double>(s - warmup) / static_cast<double>(std::max<std::int64_t>(1, total - warmup));
  return std::max(0.0, 0.5 * (1.0 + std::cos(kPi * 0.5 * 2.0 * progress)));
}
double hf_linear(std::int64_t s, std::int64_t warmup, std::int64_t total) {
  if (s < warmup) return static_cast<double>(s) / static_cast<double>(std::max<std::int64_t>(1, warmup));
  return std::max(0.0, static_cast<double>(total - s) / static_cast<double>(std::max<std::int64_t>(1, total - warmup)));
}
double hf_constant(std::int64_t s, std::int64_t warmup) {
  if (s < warmup) return static_cast<double>(s) / std::max(1.0, static_cast<double>(warmup));
  return 1.0;
}

TEST(Schedule, CosineAtKeySteps) {
  const ScheduleOptions o = opts(Decay::kCosine);  // warmup 10, max 110: decay over 100 steps
  const double peak = 3e-4, floor = 3e-5;
  EXPECT_DOUBLE_EQ(lr_at(o, 0), 0.0);
  EXPECT_DOUBLE_EQ(lr_at(o, 1), peak * 0.1);
  EXPECT_DOUBLE_EQ(lr_at(o, 9), peak * 0.9);
  EXPECT_DOUBLE_EQ(lr_at(o, 10), peak);
  EXPECT_DOUBLE_EQ(lr_at(o, 60), floor + (peak - floor) * 0.5);  // halfway: cos(pi/2) = 0
  EXPECT_DOUBLE_EQ(lr_at(o, 35), floor + (peak - floor) * 0.5 * (1 + std::cos(kPi * 0.25)));
  EXPECT_DOUBLE_EQ(lr_at(o, 109), floor + (peak - floor) * 0.5 * (1 + std::cos(kPi * 0.99)));  // last step
  EXPECT_DOUBLE_EQ(lr_at(o, 110), floor);
  EXPECT_DOUBLE_EQ(lr_at(o, 500), floor);  // beyond max_steps: stays at the floor
}

TEST(Schedule, LinearAtKeySteps) {
  const ScheduleOptions o = opts(Decay::kLinear);
  const double peak = 3e-4, floor = 3e-5;
  EXPECT_DOUBLE_EQ(lr_at(o, 0), 0.0);
  EXPECT_DOUBLE_EQ(lr_at(o, 9), peak * 0.9);
  EXPECT_DOUBLE_EQ(lr_at(o, 10), peak);
  EXPECT_DOUBLE_EQ(lr_at(o, 60), floor + (peak - floor) * 0.5);
  EXPECT_DOUBLE_EQ(lr_at(o, 109), floor + (peak - floor) * 0.01);
  EXPECT_DOUBLE_EQ(lr_at(o, 110), floor);
  EXPECT_DOUBLE_EQ(lr_at(o, 111), floor);
}

TEST(Schedule, ConstantAfterWarmup) {
  const ScheduleOptions o = opts(Decay::kConstant);
  EXPECT_DOUBLE_EQ(lr_at(o, 0), 0.0);
  EXPECT_DOUBLE_EQ(lr_at(o, 5), 3e-4 * 0.5);
  for (const std::int64_t s : {10, 60, 109, 110, 1000}) EXPECT_DOUBLE_EQ(lr_at(o, s), 3e-4) << s;
}

TEST(Schedule, NoWarmupStartsAtThePeak) {
  const ScheduleOptions o = opts(Decay::kCosine, 0, 100);
  EXPECT_DOUBLE_EQ(lr_at(o, 0), 3e-4);
  EXPECT_DOUBLE_EQ(lr_at(o, 50), 3e-5 + (3e-4 - 3e-5) * 0.5);
  EXPECT_DOUBLE_EQ(lr_at(o, 100), 3e-5);
}

TEST(Schedule, WarmupAsLongAsTheRunEndsAtThePeak) {
  const ScheduleOptions o = opts(Decay::kCosine, 20, 20);  // validate() allows warmup == max_steps
  EXPECT_DOUBLE_EQ(lr_at(o, 19), 3e-4 * 19 / 20);
  EXPECT_DOUBLE_EQ(lr_at(o, 20), 3e-4);
  EXPECT_DOUBLE_EQ(lr_at(o, 21), 3e-5);
}

TEST(Schedule, EqualsHuggingFaceSchedulesWithMinRatioZero) {
  for (const auto& [warmup, total] : {std::pair<std::int64_t, std::int64_t>{0, 50}, {7, 50}, {50, 50}, {3, 4}}) {
    for (std::int64_t s = 0; s < total; ++s) {
      EXPECT_NEAR(lr_at(opts(Decay::kCosine, warmup, total, 0.0), s), 3e-4 * hf_cosine(s, warmup, total), 1e-18)
          << warmup << "/" << total << " step " << s;
      EXPECT_NEAR(lr_at(opts(Decay::kLinear, warmup, total, 0.0), s), 3e-4 * hf_linear(s, warmup, total), 1e-18)
          << warmup << "/" << total << " step " << s;
      EXPECT_NEAR(lr_at(opts(Decay::kConstant, warmup, total, 0.0), s), 3e-4 * hf_constant(s, warmup), 1e-18)
          << warmup << "/" << total << " step " << s;
    }
  }
}

// HF's get_cosine_with_min_lr_schedule_with_warmup: factor * (1 - min_lr_rate) + min_lr_rate.
TEST(Schedule, EqualsHuggingFaceCosineWithMinLr) {
  for (std::int64_t s = 0; s < 110; ++s) {
    const double f = hf_cosine(s, 10, 110);
    const double hf = s < 10 ? f : f * (1 - 0.1) + 0.1;
    EXPECT_NEAR(lr_at(opts(Decay::kCosine), s), 3e-4 * hf, 1e-18) << s;
  }
}

TEST(Schedule, IsAPureFunctionOfTheStep) {
  const ScheduleOptions o = opts(Decay::kCosine);
  const double later = lr_at(o, 77);
  for (std::int64_t s = 0; s < 77; ++s) lr_at(o, s);
  EXPECT_EQ(lr_at(o, 77), later);
  EXPECT_THROW(lr_at(o, -1), std::invalid_argument);
}

TEST(Schedule, FromConfigAndDecayNames) {
  config::Config c;
  c.optim.lr = 2e-5;
  c.schedule.warmup_steps = 7;
  c.schedule.decay = "linear";
  c.schedule.min_lr_ratio = 0.25;
  c.train.max_steps = 70;
  const ScheduleOptions o = ScheduleOptions::from_config(c);
  EXPECT_EQ(o.lr, 2e-5);
  EXPECT_EQ(o.warmup_steps, 7);
  EXPECT_EQ(o.decay, Decay::kLinear);
  EXPECT_EQ(o.min_lr_ratio, 0.25);
  EXPECT_EQ(o.max_steps, 70);
  for (const Decay d : {Decay::kCosine, Decay::kLinear, Decay::kConstant}) EXPECT_EQ(parse_decay(decay_name(d)), d);
  EXPECT_THROW(parse_decay("exponential"), UsageError);
}

}  // namespace
}  // namespace distill::train
