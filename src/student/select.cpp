// Layer, index and head selection for pruning.
#include "distill/student/select.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "distill/util/errors.h"

namespace distill::student {

std::vector<std::int64_t> uniform_layers(std::int64_t total, std::int64_t n) {
  if (n < 1 || n > total) throw Error(ExitCode::kInternal, "uniform_layers: n out of range");
  if (n == 1) return {0};
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < n; ++i) {
    out.push_back(static_cast<std::int64_t>(
        std::llround(static_cast<double>(i) * static_cast<double>(total - 1) / static_cast<double>(n - 1))));
  }
  return out;
}

std::vector<std::int64_t> top_indices(const at::Tensor& scores, std::int64_t n) {
  const at::Tensor s = scores.to(at::kDouble).contiguous().cpu();
  const double* v = s.data_ptr<double>();
  std::vector<std::int64_t> order(static_cast<size_t>(s.numel()));
  std::iota(order.begin(), order.end(), 0);
  if (n < 0 || n > s.numel()) throw Error(ExitCode::kInternal, "top_indices: n out of range");
  std::stable_sort(order.begin(), order.end(), [v](std::int64_t a, std::int64_t b) { return v[a] > v[b]; });
  order.resize(static_cast<size_t>(n));
  std::sort(order.begin(), order.end());
  return order;
}

HeadSelection select_heads(const at::Tensor& importance, std::int64_t num_kv_heads, std::int64_t heads_keep,
                           std::int64_t kv_keep) {
  const std::int64_t H = importance.size(0);
  const std::int64_t group = H / num_kv_heads;
  if (kv_keep < 1 || kv_keep > num_kv_heads || heads_keep % kv_keep != 0 || heads_keep / kv_keep > group) {
    throw Error(ExitCode::kInternal, "select_heads: inconsistent head counts");
  }
  const at::Tensor by_group = importance.to(at::kDouble).view({num_kv_heads, group});  // (KV, G)
  HeadSelection out;
  out.kv_heads = top_indices(by_group.sum(1), kv_keep);
  for (std::int64_t g : out.kv_heads) {
    for (std::int64_t h : top_indices(by_group[g], heads_keep / kv_keep)) out.heads.push_back(g * group + h);
  }
  return out;
}

}  // namespace distill::student
