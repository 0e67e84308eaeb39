// Caching-allocator statistics behind a CPU-safe interface.
#include "distill/util/cuda_memory.h"

#include <ATen/ATen.h>
#include <torch/cuda.h>

#include <algorithm>

#ifdef DISTILL_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
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

std::int64_t cuda_total_bytes(const c10::Device& device) {
#ifdef DISTILL_WITH_CUDA
  if (device.is_cuda()) {
    return static_cast<std::int64_t>(at::cuda::getDeviceProperties(device.index() < 0 ? 0 : device.index())->totalGlobalMem);
  }
#endif
  (void)device;
  return -1;
}

void cuda_cap_memory(const c10::Device& device, std::int64_t bytes) {
#ifdef DISTILL_WITH_CUDA
  if (device.is_cuda()) {
    // The allocator of a device exists only after its first allocation.
    (void)at::empty({1}, at::TensorOptions().dtype(at::kByte).device(device));
    const double total = static_cast<double>(cuda_total_bytes(device));
    c10::cuda::CUDACachingAllocator::setMemoryFraction(std::min(1.0, static_cast<double>(bytes) / total),
                                                       device.index() < 0 ? 0 : device.index());
  }
#endif
  (void)device;
  (void)bytes;
}

void device_synchronize(const c10::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index() < 0 ? 0 : device.index());
}

}  // namespace distill
