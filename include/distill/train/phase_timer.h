// train.profile: where a training step's time goes. Each phase boundary synchronises the device, so
// the split is exact but the run is slower; off, every call is a no-op.
#pragma once

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <string>

namespace distill::train {

enum class Phase { kData, kTeacherForward, kStudentForward, kLoss, kBackward, kOptimizer, kCount };

const char* phase_name(Phase p);

class PhaseTimer {
 public:
  PhaseTimer(bool enabled, c10::Device device) : enabled_(enabled), device_(device) {}
  bool enabled() const { return enabled_; }
  // Starts a step: synchronises and takes the time from here.
  void start_step();
  // The time since the last boundary belongs to `phase`.
  void end(Phase phase);
  // Ends a step: counts it, unless it is warm-up (the first steps) or `count` is false (a step
  // unlike the others, e.g. the last one of train.overlap_teacher, whose teacher ran a step early).
  void finish_step(std::int64_t tokens, bool count = true);

  // {"steps", "tokens", "phases": {name: {"ms_per_step", "fraction"}}, "ms_per_step", "tokens_per_s"}
  nlohmann::ordered_json summary() const;
  // One line per phase, for the log.
  std::string table() const;

  static constexpr std::int64_t kWarmupSteps = 2;  // the first steps (allocator growth, plan building) are left out

 private:
  bool enabled_;
  c10::Device device_;
  std::chrono::steady_clock::time_point last_;
  std::array<double, static_cast<size_t>(Phase::kCount)> step_{}, total_{};
  std::int64_t seen_ = 0, counted_ = 0, tokens_ = 0;
};

}  // namespace distill::train
