// Structured pruning of a CausalLM: a smaller model of the same family holding a subset of the
// teacher's layers, attention heads, MLP channels and residual channels, its weights copied over.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "distill/models/causal_lm.h"

namespace distill::models {

// What a pruned model keeps, as teacher indices in ascending order.
struct PrunePlan {
  std::vector<std::int64_t> layers;                   // decoder layers, in their order
  std::vector<std::vector<std::int64_t>> heads;       // per kept layer: query heads (whole heads: RoPE intact)
  std::vector<std::vector<std::int64_t>> kv_heads;    // per kept layer: key/value heads (their query groups)
  std::vector<std::vector<std::int64_t>> channels;    // per kept layer: MLP channels (gate and up rows alike)
  std::vector<std::int64_t> hidden;                   // residual-stream channels (embeddings, norms, projections)
};

// The plan that keeps everything (every layer, head and channel).
PrunePlan keep_all(const ModelSpec& spec);

// config.json of the pruned model: the teacher's, with its family's size keys rewritten.
nlohmann::json pruned_config(const ModelSpec& teacher, const PrunePlan& plan);

// The model `student_spec` (parsed from pruned_config) with the teacher's weights selected by `plan`,
// in the teacher's dtype and on its device. The shapes of plan and spec must agree (checked).
CausalLM prune(CausalLMImpl& teacher, const PrunePlan& plan, const ModelSpec& student_spec);

}  // namespace distill::models
