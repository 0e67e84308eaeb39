// Random initialisation of a CausalLM, as transformers initialises these families.
#pragma once

#include <cstdint>

#include "distill/models/causal_lm.h"

namespace distill::models {

// Matrices and embeddings ~ N(0, std) (transformers' initializer_range, default 0.02), biases 0,
// norm weights 1 (norm biases 0). Deterministic for a given seed on a given device.
void init_random(CausalLMImpl& model, std::uint64_t seed, double std = 0.02);

}  // namespace distill::models
