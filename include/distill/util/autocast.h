// Mixed-precision autocast state, behind one interface for LibTorch 1.13 and 2.x (whose APIs differ).
#pragma once

#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

namespace distill {

struct AutocastState {
  bool enabled = false;
  c10::ScalarType dtype = c10::kBFloat16;
};

AutocastState autocast_state(c10::DeviceType device);
void set_autocast_state(c10::DeviceType device, const AutocastState& state);

// Like Python's `with torch.autocast(device, dtype)`: enables autocast for the scope, restores the
// previous state after, and drops the cache of cast weights when the outermost scope closes.
class AutocastScope {
 public:
  AutocastScope(c10::DeviceType device, bool enabled, c10::ScalarType dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType device_;
  AutocastState previous_;
};

}  // namespace distill
