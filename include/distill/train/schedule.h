// Learning-rate schedule: linear warmup from 0 (HF transformers' convention), then cosine, linear
// or constant decay to lr * min_lr_ratio; a pure function of the optimizer step.
#pragma once

#include <cstdint>
#include <string>

namespace distill::config {
struct Config;
}

namespace distill::train {

enum class Decay { kCosine, kLinear, kConstant };

// "cosine" | "linear" | "constant"; anything else is a UsageError naming schedule.decay.
Decay parse_decay(const std::string& text);
const char* decay_name(Decay decay);

struct ScheduleOptions {
  double lr = 1e-4;               // peak learning rate (optim.lr)
  std::int64_t warmup_steps = 0;  // schedule.warmup_steps
  Decay decay = Decay::kCosine;   // schedule.decay
  double min_lr_ratio = 0.0;      // schedule.min_lr_ratio: the final lr is lr * min_lr_ratio
  std::int64_t max_steps = 1;     // train.max_steps: decay ends here

  // optim.lr, schedule.*, train.max_steps.
  static ScheduleOptions from_config(const config::Config& config);
};

// The learning rate of optimizer step `step` (0-based: the step that is about to be taken), with
// W = warmup_steps, N = max_steps, peak = lr, floor = lr * min_lr_ratio:
//   step < W:  peak * step / W                      (step 0 trains with lr 0, as in HF transformers)
//   step >= W: p = min(1, (step - W) / max(1, N - W))
//              cosine:   floor + (peak - floor) * 0.5 * (1 + cos(pi * p))
//              linear:   floor + (peak - floor) * (1 - p)
//              constant: peak
// so the peak is reached at step W and the floor at step N (and kept beyond N, e.g. when max_steps
// was lowered on resume). Deterministic and stateless: resuming at step s gives lr_at(s) again.
// A negative step is std::invalid_argument.
double lr_at(const ScheduleOptions& options, std::int64_t step);

}  // namespace distill::train
