// Learning-rate schedule (see schedule.h for the formulas).
#include "distill/train/schedule.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "distill/config/config.h"
#include "distill/util/errors.h"

namespace distill::train {

Decay parse_decay(const std::string& text) {
  if (text == "cosine") return Decay::kCosine;
  if (text == "linear") return Decay::kLinear;
  if (text == "constant") return Decay::kConstant;
  throw UsageError("schedule.decay: unknown decay \"" + text + "\"", "use one of: cosine, linear, constant");
}

const char* decay_name(Decay decay) {
  switch (decay) {
    case Decay::kCosine: return "cosine";
    case Decay::kLinear: return "linear";
    case Decay::kConstant: return "constant";
  }
  return "?";
}

ScheduleOptions ScheduleOptions::from_config(const config::Config& config) {
  ScheduleOptions o;
  o.lr = config.optim.lr;
  o.warmup_steps = config.schedule.warmup_steps;
  o.decay = parse_decay(config.schedule.decay);
  o.min_lr_ratio = config.schedule.min_lr_ratio;
  o.max_steps = config.train.max_steps;
  return o;
}

double lr_at(const ScheduleOptions& o, std::int64_t step) {
  if (step < 0) throw std::invalid_argument("lr_at: negative step " + std::to_string(step));
  const double peak = o.lr;
  if (step < o.warmup_steps) {
    return peak * static_cast<double>(step) / static_cast<double>(o.warmup_steps);
  }
  if (o.decay == Decay::kConstant) return peak;
  const double floor = peak * o.min_lr_ratio;
  const std::int64_t span = std::max<std::int64_t>(1, o.max_steps - o.warmup_steps);
  const double progress = std::min(1.0, static_cast<double>(step - o.warmup_steps) / static_cast<double>(span));
  const double pi = std::acos(-1.0);
  const double factor = o.decay == Decay::kCosine ? 0.5 * (1.0 + std::cos(pi * progress)) : 1.0 - progress;
  return floor + (peak - floor) * factor;
}

}  // namespace distill::train
