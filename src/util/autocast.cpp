// Autocast on LibTorch 1.13 (per-device functions) and 2.4+ (functions taking a device type).
#include "distill/util/autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define DISTILL_AUTOCAST_BY_DEVICE 1
#endif

namespace distill {

AutocastState autocast_state(c10::DeviceType device) {
#ifdef DISTILL_AUTOCAST_BY_DEVICE
  return {at::autocast::is_autocast_enabled(device), at::autocast::get_autocast_dtype(device)};
#else
  if (device == c10::DeviceType::CUDA) return {at::autocast::is_enabled(), at::autocast::get_autocast_gpu_dtype()};
  return {at::autocast::is_cpu_enabled(), at::autocast::get_autocast_cpu_dtype()};
#endif
}

void set_autocast_state(c10::DeviceType device, const AutocastState& state) {
#ifdef DISTILL_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_enabled(device, state.enabled);
  at::autocast::set_autocast_dtype(device, state.dtype);
#else
  if (device == c10::DeviceType::CUDA) {
    at::autocast::set_enabled(state.enabled);
    at::autocast::set_autocast_gpu_dtype(state.dtype);
  } else {
    at::autocast::set_cpu_enabled(state.enabled);
    at::autocast::set_autocast_cpu_dtype(state.dtype);
  }
#endif
}

AutocastScope::AutocastScope(c10::DeviceType device, bool enabled, c10::ScalarType dtype)
    : device_(device), previous_(autocast_state(device)) {
  // A disabled scope keeps the previous dtype (CPU autocast refuses dtypes other than bf16).
  set_autocast_state(device, {enabled, enabled ? dtype : previous_.dtype});
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast_state(device_, previous_);
}

}  // namespace distill
