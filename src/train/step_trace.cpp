// train.trace_steps (see step_trace.h): the PyTorch (Kineto) profiler around a few steps.
#include "distill/train/step_trace.h"

#include <torch/csrc/autograd/profiler_kineto.h>

#include <algorithm>
#include <exception>
#include <set>

#include "distill/util/cuda_memory.h"
#include "distill/util/logging.h"

namespace distill::train {
namespace {

namespace prof = torch::autograd::profiler;
using torch::profiler::impl::ActivityType;
using torch::profiler::impl::ProfilerConfig;
using torch::profiler::impl::ProfilerState;

constexpr std::int64_t kWarmupSteps = 3;


}  // namespace

StepTrace::StepTrace(std::int64_t steps, std::int64_t remaining, c10::Device device, std::string path)
    : device_(device),
      steps_(std::min(steps, remaining)),
      start_(std::clamp<std::int64_t>(remaining - steps, 0, kWarmupSteps)),
      path_(std::move(path)) {}

StepTrace::~StepTrace() {
  if (recording_) {
    try {
      prof::disableProfiler();
    } catch (const std::exception&) {
    }
  }
}

void StepTrace::before_step(std::int64_t done) {
  if (steps_ <= 0 || done != start_) return;
  try {
    const ProfilerConfig config(ProfilerState::KINETO);
    std::set<ActivityType> activities{ActivityType::CPU};
    if (device_.is_cuda()) activities.insert(ActivityType::CUDA);
    prof::prepareProfiler(config, activities);
    prof::enableProfiler(config, activities);
    recording_ = true;
    log::info("tracing steps {} to {} into {}", done + 1, done + steps_, path_);
  } catch (const std::exception& e) {
    log::warn("train.trace_steps: the profiler could not start ({}); no trace is written", e.what());
    steps_ = 0;
  }
}

void StepTrace::after_step(std::int64_t done) {
  if (!recording_ || done != start_ + steps_) return;
  recording_ = false;
  try {
    device_synchronize(device_);  // the kernels still queued belong to the traced steps
    prof::disableProfiler()->save(path_);
    log::info("trace of {} steps written to {} (open it in https://ui.perfetto.dev or chrome://tracing)", steps_,
              path_);
  } catch (const std::exception& e) {
    log::warn("train.trace_steps: the trace could not be written to {} ({})", path_, e.what());
  }
}

}  // namespace distill::train
