// Random initialisation of a CausalLM, as transformers initialises these families.
#pragma once

#include <cstdint>

#include "distill/models/causal_lm.h"

namespace distill::models {

// How transformers initialises a family (its _init_weights), read from the model's config.json.
struct InitScheme {
  double normal_std = 0.02;     // matrices and embeddings ~ N(0, std): initializer_range (OPT: init_std)
  double residual_std = 0.02;   // the attention output and MLP down projections (GPT-2 and the original
                                // Qwen scale them by 1 / sqrt(2 * layers))
  std::int64_t padding_row = -1;  // embedding row set to zero (nn.Embedding padding_idx = pad_token_id); -1: none
};
InitScheme init_scheme(const ModelSpec& spec);

// The family's scheme: matrices and embeddings normal, biases 0, norm weights 1 (norm biases 0).
// Deterministic for a given seed on a given device.
void init_random(CausalLMImpl& model, std::uint64_t seed);
// Every matrix and embedding ~ N(0, std) alone (no residual scaling, no padding row).
void init_random(CausalLMImpl& model, std::uint64_t seed, double std);

}  // namespace distill::models
