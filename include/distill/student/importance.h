// Importance of a teacher's layers, heads and channels, measured on calibration sequences: what
// `distill init-student` keeps when it prunes (ShortGPT's block influence, the Minitron recipe).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "distill/models/causal_lm.h"

namespace distill::student {

struct Importance {
  // (L) fp64 on the CPU: 1 - mean over tokens of cos(layer input, layer output) (block influence;
  // a layer that barely changes the residual stream scores near 0).
  at::Tensor block_influence;
  // Root mean square over calibration tokens, (.., n) fp32 on the CPU:
  at::Tensor heads;     // (L, H): each query head's attention output (its D values)
  at::Tensor channels;  // (L, I): each MLP channel's activation (the down projection's input)
  at::Tensor hidden;    // (L, C): each residual channel in the outputs of the layer's two norms
  std::int64_t tokens = 0;
};

// Runs `model` (no gradients) over `sequences`, one at a time, each cut to `max_len` tokens.
Importance measure_importance(models::CausalLMImpl& model, const std::vector<std::vector<std::int64_t>>& sequences,
                             std::int64_t max_len);

}  // namespace distill::student
