// In-memory batch sources and metrics.jsonl reading for trainer tests.
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "distill/train/batch_source.h"

namespace distill::testing {

// A fixed list of micro-batches, cycled (or finite); its position is the index of the next batch.
class MemorySource : public train::BatchSource {
 public:
  using Json = nlohmann::ordered_json;
  // `count` random batches of `batch` x `seq` tokens below 1000, labels the next tokens.
  MemorySource(int count, std::int64_t batch, std::int64_t seq, std::uint64_t seed, bool finite = false)
      : finite_(finite) {
    auto gen = at::detail::createCPUGenerator(seed);
    for (int i = 0; i < count; ++i) add(at::randint(1000, {batch, seq + 1}, gen, at::kLong));
  }
  // One batch per entry of `tokens` (N, B, T + 1): inputs tokens[:, :-1], labels tokens[:, 1:].
  explicit MemorySource(const at::Tensor& tokens, bool finite = false) : finite_(finite) {
    for (std::int64_t i = 0; i < tokens.size(0); ++i) add(tokens[i]);
  }
  std::optional<train::Batch> next() override {
    if (finite_ && index_ >= static_cast<std::int64_t>(batches_.size())) return std::nullopt;
    ++served_;
    return batches_[static_cast<size_t>(index_++ % static_cast<std::int64_t>(batches_.size()))];
  }
  Json position() const override { return {{"index", index_}}; }
  void seek(const Json& p) override { index_ = p.at("index").get<std::int64_t>(); }
  void rewind() override { index_ = 0; }
  std::int64_t served() const { return served_; }

 private:
  void add(const at::Tensor& tokens) {
    const std::int64_t seq = tokens.size(1) - 1;
    batches_.push_back({tokens.narrow(1, 0, seq).contiguous(), tokens.narrow(1, 1, seq).contiguous(), {}});
  }
  std::vector<train::Batch> batches_;
  std::int64_t index_ = 0;
  std::int64_t served_ = 0;
  bool finite_;
};

// The rows of <run_dir>/metrics.jsonl.
inline std::vector<nlohmann::ordered_json> read_metrics(const std::string& run_dir) {
  std::ifstream f(run_dir + "/metrics.jsonl");
  std::vector<nlohmann::ordered_json> rows;
  std::string line;
  while (std::getline(f, line)) rows.push_back(nlohmann::ordered_json::parse(line));
  return rows;
}

}  // namespace distill::testing
