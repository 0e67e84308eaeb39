// Device flags copied to pinned host memory behind an event (see deferred_flags.h).
#include "deferred_flags.h"

#include <ATen/ops/empty.h>

#include <stdexcept>

#ifdef DISTILL_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace distill::train {

#ifdef DISTILL_WITH_CUDA
struct DeferredFlags::Event {
  at::cuda::CUDAEvent event;
};
#else
struct DeferredFlags::Event {};
#endif

DeferredFlags::DeferredFlags() = default;
DeferredFlags::~DeferredFlags() = default;
DeferredFlags::DeferredFlags(DeferredFlags&&) noexcept = default;
DeferredFlags& DeferredFlags::operator=(DeferredFlags&&) noexcept = default;

void DeferredFlags::start(const at::Tensor& flags) {
  const at::Tensor f = flags.to(at::kBool).reshape({-1});
#ifdef DISTILL_WITH_CUDA
  if (f.is_cuda()) {
    host_ = at::empty({f.numel()}, at::TensorOptions().dtype(at::kBool).pinned_memory(true));
    host_.copy_(f, /*non_blocking=*/true);
    event_ = std::make_unique<Event>();
    event_->event.record(c10::cuda::getCurrentCUDAStream(f.device().index()));
    return;
  }
#endif
  host_ = f.to(at::kCPU).clone();
  event_.reset();
}

std::vector<bool> DeferredFlags::finish() {
  if (!host_.defined()) throw std::logic_error("DeferredFlags::finish without start");
#ifdef DISTILL_WITH_CUDA
  if (event_) event_->event.synchronize();
#endif
  std::vector<bool> out;
  const bool* p = host_.data_ptr<bool>();
  for (std::int64_t i = 0; i < host_.numel(); ++i) out.push_back(p[i]);
  host_ = at::Tensor();
  event_.reset();
  return out;
}

}  // namespace distill::train
