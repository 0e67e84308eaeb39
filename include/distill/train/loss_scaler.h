// Dynamic loss scaling for fp16 training: grow the scale after a run of good steps, halve it and
// skip the step when gradients overflow.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>

namespace distill::train {

class LossScaler {
 public:
  // enabled = false: scale 1, never changes (bf16 and fp32 need no scaling).
  explicit LossScaler(bool enabled, double initial_scale = 65536.0, std::int64_t growth_interval = 2000);
  bool enabled() const { return enabled_; }
  double scale() const { return scale_; }
  // After each optimizer step: overflowed = the gradients were not finite (the step was skipped).
  void update(bool overflowed);
  nlohmann::ordered_json state() const;
  void load_state(const nlohmann::ordered_json& state);

 private:
  bool enabled_;
  double scale_;
  std::int64_t growth_interval_;
  std::int64_t good_steps_ = 0;
};

}  // namespace distill::train
