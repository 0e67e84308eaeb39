// A second device stream for the teacher's forward (train.overlap_teacher): work queued on it runs
// alongside the current stream's, and its results are handed back with an event. On the CPU, or
// when disabled, `run` just calls the function and `join` does nothing.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/Device.h>

#include <functional>
#include <memory>
#include <vector>

namespace distill::train {

class SideStream {
 public:
  SideStream(bool enabled, c10::Device device);
  ~SideStream();
  SideStream(SideStream&&) noexcept;
  SideStream& operator=(SideStream&&) noexcept;

  bool active() const { return impl_ != nullptr; }
  // Marks the point of the side stream's queue after a `run`.
  class Ticket {
   public:
    Ticket();
    ~Ticket();
    Ticket(Ticket&&) noexcept;
    Ticket& operator=(Ticket&&) noexcept;

   private:
    friend class SideStream;
    struct Event;
    std::unique_ptr<Event> event_;
  };
  // Runs `fn` with the side stream current, after the work queued on the current stream so far
  // (its inputs, e.g. non-blocking copies, are then ready). The ticket marks the end of that work.
  Ticket run(const std::function<void()>& fn);
  // The current stream waits for the side stream's work up to `ticket` (not for work queued there
  // later); `tensors` made there are marked as used by the current stream, so that their memory is
  // not reused before it is done with them.
  void join(const Ticket& ticket, const std::vector<at::Tensor>& tensors);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace distill::train
