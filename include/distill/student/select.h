// Choosing what a pruned student keeps: evenly spaced layers, the most important indices, and
// attention heads in whole GQA groups.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace distill::student {

// `n` of `total` layers, evenly spaced with the first and the last kept: round(i * (total - 1) / (n - 1)).
// n = 1 keeps layer 0.
std::vector<std::int64_t> uniform_layers(std::int64_t total, std::int64_t n);

// The indices of the `n` largest of `scores` (1-D), in ascending order; ties keep the lower index.
std::vector<std::int64_t> top_indices(const at::Tensor& scores, std::int64_t n);

struct HeadSelection {
  std::vector<std::int64_t> heads;     // query heads, ascending
  std::vector<std::int64_t> kv_heads;  // key/value heads, ascending
};

// Heads kept in one layer of a model with importance.size(0) query heads in `num_kv_heads` groups
// (query head h reads key/value head h / group size). Keeps the `kv_keep` groups with the largest
// summed query-head importance and, in each, its `heads_keep / kv_keep` most important query heads,
// so a removed key/value head takes its query heads with it. heads_keep must be a multiple of kv_keep
// and at most kv_keep * group size (checked by the caller; violated here it is an internal error).
HeadSelection select_heads(const at::Tensor& importance, std::int64_t num_kv_heads, std::int64_t heads_keep,
                           std::int64_t kv_keep);

}  // namespace distill::student
