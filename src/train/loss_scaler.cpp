// torch.cuda.amp.GradScaler's policy: x2 after growth_interval good steps, x0.5 on overflow.
#include "distill/train/loss_scaler.h"

#include <algorithm>

namespace distill::train {

LossScaler::LossScaler(bool enabled, double initial_scale, std::int64_t growth_interval)
    : enabled_(enabled), scale_(enabled ? initial_scale : 1.0), growth_interval_(growth_interval) {}

void LossScaler::update(bool overflowed) {
  if (!enabled_) return;
  if (overflowed) {
    scale_ = std::max(scale_ * 0.5, 1.0 / 65536.0);
    good_steps_ = 0;
  } else if (++good_steps_ >= growth_interval_) {
    scale_ = std::min(scale_ * 2.0, 16777216.0);
    good_steps_ = 0;
  }
}

nlohmann::ordered_json LossScaler::state() const {
  if (!enabled_) return nlohmann::ordered_json::object();
  return {{"scale", scale_}, {"good_steps", good_steps_}, {"growth_interval", growth_interval_}};
}

void LossScaler::load_state(const nlohmann::ordered_json& state) {
  if (!enabled_ || !state.is_object() || !state.contains("scale")) return;
  scale_ = state.value("scale", scale_);
  good_steps_ = state.value("good_steps", std::int64_t{0});
}

}  // namespace distill::train
