// A few device flags read by the host later, without waiting for the device when they are queued.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

namespace distill::train {

class DeferredFlags {
 public:
  DeferredFlags();
  ~DeferredFlags();
  DeferredFlags(DeferredFlags&&) noexcept;
  DeferredFlags& operator=(DeferredFlags&&) noexcept;

  // Queues a copy of `flags` (1-D bool) to host memory behind the work queued so far on the current
  // stream. On CUDA nothing waits; elsewhere the copy is made now.
  void start(const at::Tensor& flags);
  // Waits for the copy (by then usually long done) and returns the flags.
  std::vector<bool> finish();

 private:
  struct Event;
  at::Tensor host_;
  std::unique_ptr<Event> event_;  // CUDA only: recorded after the copy
};

}  // namespace distill::train
