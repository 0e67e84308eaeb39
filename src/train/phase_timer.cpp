#include "distill/train/phase_timer.h"

#include <algorithm>
#include <cstdio>

#include "distill/util/cuda_memory.h"

namespace distill::train {

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::kData: return "data";
    case Phase::kTeacherForward: return "teacher_forward";
    case Phase::kStudentForward: return "student_forward";
    case Phase::kLoss: return "loss";
    case Phase::kBackward: return "backward";
    case Phase::kOptimizer: return "optimizer";
    case Phase::kCount: break;
  }
  return "?";
}

void PhaseTimer::start_step() {
  if (!enabled_) return;
  device_synchronize(device_);
  step_.fill(0.0);
  last_ = std::chrono::steady_clock::now();
}

void PhaseTimer::end(Phase phase) {
  if (!enabled_) return;
  device_synchronize(device_);
  const auto now = std::chrono::steady_clock::now();
  step_[static_cast<size_t>(phase)] += std::chrono::duration<double>(now - last_).count();
  last_ = now;
}

void PhaseTimer::finish_step(std::int64_t tokens, bool count) {
  if (!enabled_) return;
  if (++seen_ <= kWarmupSteps || !count) return;
  ++counted_;
  tokens_ += tokens;
  for (size_t i = 0; i < step_.size(); ++i) total_[i] += step_[i];
}

nlohmann::ordered_json PhaseTimer::summary() const {
  nlohmann::ordered_json out;
  double seconds = 0.0;
  for (double t : total_) seconds += t;
  out["steps"] = counted_;
  out["warmup_steps_left_out"] = std::min<std::int64_t>(seen_, kWarmupSteps);
  out["tokens"] = tokens_;
  const double n = counted_ > 0 ? static_cast<double>(counted_) : 1.0;
  out["ms_per_step"] = 1000.0 * seconds / n;
  out["tokens_per_s"] = seconds > 0 ? static_cast<double>(tokens_) / seconds : 0.0;
  nlohmann::ordered_json phases;
  for (size_t i = 0; i < total_.size(); ++i) {
    phases[phase_name(static_cast<Phase>(i))] = {{"ms_per_step", 1000.0 * total_[i] / n},
                                                 {"fraction", seconds > 0 ? total_[i] / seconds : 0.0}};
  }
  out["phases"] = phases;
  return out;
}

std::string PhaseTimer::table() const {
  const auto s = summary();
  char line[256];
  std::snprintf(line, sizeof line, "profile over %lld steps (after %lld warm-up): %.1f ms/step, %.0f tokens/s (synchronised)",
                static_cast<long long>(s["steps"].get<std::int64_t>()),
                static_cast<long long>(s["warmup_steps_left_out"].get<std::int64_t>()), s["ms_per_step"].get<double>(),
                s["tokens_per_s"].get<double>());
  std::string out = line;
  for (const auto& [name, v] : s["phases"].items()) {
    std::snprintf(line, sizeof line, "\n  %-16s %9.2f ms/step  %5.1f%%", name.c_str(), v["ms_per_step"].get<double>(),
                  100.0 * v["fraction"].get<double>());
    out += line;
  }
  return out;
}

}  // namespace distill::train
