// Incremental (KV-cached) decoding: greedy or sampled, streamed token by token.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "distill/models/causal_lm.h"

namespace distill::infer {

struct GenerateOptions {
  std::int64_t max_new_tokens = 64;
  double temperature = 0.0;  // 0: greedy (argmax); > 0: sample from softmax(logits / temperature)
  std::int64_t top_k = 0;    // sampling: keep the k most likely tokens (0: all)
  double top_p = 1.0;        // sampling: keep the smallest set whose probability reaches top_p
  std::uint64_t seed = 0;    // sampling RNG seed
  std::vector<std::int64_t> eos_ids;  // stop after generating any of these (it is returned)
  bool cuda_graphs = true;            // replay decode steps as CUDA graphs on the GPU (decode_runner.h)
};

// The token ids a model's config.json names as end of sequence (eos_token_id: a number or a list).
std::vector<std::int64_t> eos_ids_of(const models::CausalLMImpl& model);

// Generates up to max_new_tokens tokens after `prompt` (batch 1), calling on_token for each as it is
// chosen; returns the new tokens. The prompt is run once (prefill), then one token per forward with
// the keys and values of earlier tokens cached. Throws UsageError for an empty prompt, ids outside
// the vocabulary, or a prompt + max_new_tokens longer than the model's context.
std::vector<std::int64_t> generate(models::CausalLMImpl& model, const std::vector<std::int64_t>& prompt,
                                   const GenerateOptions& options,
                                   const std::function<void(std::int64_t)>& on_token = nullptr);

}  // namespace distill::infer
