// GPU memory statistics from the CUDA caching allocator (no-ops on CPU builds).
#pragma once

#include <c10/core/Device.h>

#include <cstdint>

namespace distill {

// Peak bytes allocated by tensors on `device` since the last reset; -1 on CPU or CPU-only builds.
std::int64_t cuda_peak_allocated_bytes(const c10::Device& device);
void cuda_reset_peak(const c10::Device& device);
// Total memory of a CUDA device in bytes; -1 on CPU or CPU-only builds.
std::int64_t cuda_total_bytes(const c10::Device& device);
// Caps what the caching allocator may hold on `device` at `bytes` (its memory fraction): an
// allocation beyond it fails as out of memory, as on a smaller GPU. No-op off CUDA.
void cuda_cap_memory(const c10::Device& device, std::int64_t bytes);
// Waits for all queued work on the device (no-op on CPU).
void device_synchronize(const c10::Device& device);

}  // namespace distill
