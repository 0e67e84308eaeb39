// A second device stream for the teacher's forward (train.overlap_teacher): work queued on it runs
// alongside the current stream's, and its results are handed back with an event. On the CPU, or
// when disabled, `run` just calls the function and the rest does nothing.
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
  // A point in one stream's queue.
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
  // The current stream's queue so far (e.g. the device copies a later `run` reads).
  Ticket mark();
  // Runs `fn` with the side stream current, once the current stream's work up to `after` is done
  // (all of it queued so far when `after` is empty). `inputs`, made on the current stream, are kept
  // from reuse until the side stream is done with them. The ticket marks the end of `fn`'s work.
  Ticket run(const Ticket& after, const std::vector<at::Tensor>& inputs, const std::function<void()>& fn);
  // The current stream waits for the side stream's work up to `ticket` (not for work queued there
  // later); `tensors` made there are marked as used by the current stream, so that their memory is
  // not reused before it is done with them.
  void join(const Ticket& ticket, const std::vector<at::Tensor>& tensors);
  // The current stream waits for everything queued on the side stream so far.
  void join_all();
  // The host waits for the side stream.
  void synchronize();

  // While a Priority lives, the current stream is one of high priority: when the student's kernels
  // and the teacher's both wait for free multiprocessors, the student's go first, so that its chain
  // of short kernels (and the step's end) is not held up behind the teacher's long ones. A no-op
  // when the side stream is inactive.
  class Priority {
   public:
    explicit Priority(const SideStream& side);
    ~Priority();
    Priority(const Priority&) = delete;
    Priority& operator=(const Priority&) = delete;

   private:
    struct Guard;
    std::unique_ptr<Guard> guard_;
  };

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace distill::train
