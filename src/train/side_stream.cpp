// The second stream of train.overlap_teacher (see side_stream.h).
#include "distill/train/side_stream.h"

#ifdef DISTILL_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace distill::train {

#ifdef DISTILL_WITH_CUDA
struct SideStream::Impl {
  c10::cuda::CUDAStream stream;
};
#else
struct SideStream::Impl {};
#endif

SideStream::SideStream(bool enabled, c10::Device device) {
#ifdef DISTILL_WITH_CUDA
  if (enabled && device.is_cuda()) {
    impl_ = std::make_unique<Impl>(Impl{c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device.index())});
  }
#else
  (void)enabled;
  (void)device;
#endif
}

SideStream::~SideStream() = default;
SideStream::SideStream(SideStream&&) noexcept = default;
SideStream& SideStream::operator=(SideStream&&) noexcept = default;

#ifdef DISTILL_WITH_CUDA
struct SideStream::Ticket::Event {
  at::cuda::CUDAEvent event;
};
struct SideStream::Priority::Guard {
  explicit Guard(c10::cuda::CUDAStream stream) : guard(stream) {}
  c10::cuda::CUDAStreamGuard guard;
};
#else
struct SideStream::Ticket::Event {};
struct SideStream::Priority::Guard {};
#endif

SideStream::Ticket::Ticket() = default;
SideStream::Ticket::~Ticket() = default;
SideStream::Ticket::Ticket(Ticket&&) noexcept = default;
SideStream::Ticket& SideStream::Ticket::operator=(Ticket&&) noexcept = default;

SideStream::Ticket SideStream::mark() {
  Ticket ticket;
#ifdef DISTILL_WITH_CUDA
  if (impl_) {
    ticket.event_ = std::make_unique<Ticket::Event>();
    ticket.event_->event.record(c10::cuda::getCurrentCUDAStream(impl_->stream.device_index()));
  }
#endif
  return ticket;
}

SideStream::Ticket SideStream::run(const Ticket& after, const std::vector<at::Tensor>& inputs,
                                   const std::function<void()>& fn) {
  Ticket ticket;
#ifdef DISTILL_WITH_CUDA
  if (impl_) {
    if (after.event_) {
      after.event_->event.block(impl_->stream);
    } else {
      at::cuda::CUDAEvent ready;
      ready.record(c10::cuda::getCurrentCUDAStream(impl_->stream.device_index()));
      ready.block(impl_->stream);
    }
    for (const at::Tensor& t : inputs) {
      if (t.defined() && t.is_cuda()) c10::cuda::CUDACachingAllocator::recordStream(t.storage().data_ptr(), impl_->stream);
    }
    {
      c10::cuda::CUDAStreamGuard guard(impl_->stream);
      fn();
    }
    ticket.event_ = std::make_unique<Ticket::Event>();
    ticket.event_->event.record(impl_->stream);
    return ticket;
  }
#else
  (void)after;
  (void)inputs;
#endif
  fn();
  return ticket;
}

void SideStream::join(const Ticket& ticket, const std::vector<at::Tensor>& tensors) {
#ifdef DISTILL_WITH_CUDA
  if (impl_ && ticket.event_) {
    const c10::cuda::CUDAStream current = c10::cuda::getCurrentCUDAStream(impl_->stream.device_index());
    ticket.event_->event.block(current);
    for (const at::Tensor& t : tensors) {
      if (t.defined() && t.is_cuda()) c10::cuda::CUDACachingAllocator::recordStream(t.storage().data_ptr(), current);
    }
  }
#else
  (void)ticket;
  (void)tensors;
#endif
}

void SideStream::join_all() {
#ifdef DISTILL_WITH_CUDA
  if (impl_) {
    at::cuda::CUDAEvent done;
    done.record(impl_->stream);
    done.block(c10::cuda::getCurrentCUDAStream(impl_->stream.device_index()));
  }
#endif
}

void SideStream::synchronize() {
#ifdef DISTILL_WITH_CUDA
  if (impl_) impl_->stream.synchronize();
#endif
}

SideStream::Priority::Priority(const SideStream& side) {
#ifdef DISTILL_WITH_CUDA
  if (side.impl_) {
    guard_ = std::make_unique<Guard>(c10::cuda::getStreamFromPool(/*isHighPriority=*/true, side.impl_->stream.device_index()));
  }
#else
  (void)side;
#endif
}

SideStream::Priority::~Priority() = default;

}  // namespace distill::train
