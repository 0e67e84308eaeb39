// On/off switches read from the environment, for A/Bs of the GPU levers (DISTILL_FUSED_KERNELS,
// DISTILL_MIXED_GEMM, DISTILL_GATE_UP, DISTILL_FUSED_ADD_NORM, DISTILL_KD_ROWS_CLUSTER,
// DISTILL_NORM_TO_AUTOCAST, DISTILL_CLIP_IN_OPTIMIZER, DISTILL_TUNED_GEMM).
#pragma once

namespace distill {

// A default-on switch is off only when NAME is "0"; a default-off switch is on only when NAME is
// "1". Unset, or any other value, keeps the default.
bool env_switch(const char* name, bool default_on);

}  // namespace distill
