// Caching-allocator statistics behind a CPU-safe interface.
#include "distill/util/cuda_memory.h"

#include <torch/cuda.h>

#ifdef DISTILL_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace distill {

std::int64_t cuda_peak_allocated_bytes(const c10::Device& device) {
#ifdef DISTILL_WITH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
    return stats.allocated_bytes[0].peak;  // index 0 = StatType::AGGREGATE (all pools), in every version
  }
#endif
  (void)device;
  return -1;
}

void cuda_reset_peak(const c10::Device& device) {
#ifdef DISTILL_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index() < 0 ? 0 : device.index());
#endif
  (void)device;
}

void device_synchronize(const c10::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index() < 0 ? 0 : device.index());
}

}  // namespace distill
