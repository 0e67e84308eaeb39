// train.trace_steps: a Chrome/Perfetto trace (host operators and device kernels with their streams,
// from the PyTorch profiler) of a few training steps after warm-up, written to <run>/trace.json.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <memory>
#include <string>

namespace distill::train {

class StepTrace {
 public:
  // Records `steps` steps (none when 0) of a run that does `remaining` more steps, starting after
  // up to 3 warm-up steps (fewer when the run is too short for them); on a CUDA `device` the
  // kernels and copies are recorded as well as the host's operators.
  StepTrace(std::int64_t steps, std::int64_t remaining, c10::Device device, std::string path);
  ~StepTrace();
  StepTrace(const StepTrace&) = delete;
  StepTrace& operator=(const StepTrace&) = delete;

  // Around each step of the run (`done`: the steps this process has finished before it).
  void before_step(std::int64_t done);
  void after_step(std::int64_t done);

 private:
  c10::Device device_;
  std::int64_t steps_ = 0, start_ = 0;
  std::string path_;
  bool recording_ = false;
};

}  // namespace distill::train
