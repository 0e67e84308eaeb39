// What the trainer reads batches from: the data loader implements it, tests use in-memory sources.
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <optional>

namespace distill::train {

struct Batch {
  at::Tensor input_ids;       // (B, T) int64
  at::Tensor labels;          // (B, T) int64: the token that follows input_ids[b, t]; -100 = not predicted
  at::Tensor attention_mask;  // (B, T) 1 = token, 0 = padding; undefined for packed batches
  // loss.cross_tokenizer align only (undefined otherwise): the same text in the teacher's tokens.
  at::Tensor teacher_input_ids{};       // (B, Tt) int64, teacher ids; padded with its pad/eos
  at::Tensor teacher_attention_mask{};  // (B, Tt) 1 = token, 0 = padding
  at::Tensor teacher_pos{};             // (B, T) int64: the teacher column aligned with each student column, -1 none
  at::Tensor exact{};                   // (B, T) bool: the next tokens are the same string (xtok/alignment.h)
  at::Tensor uld_cols{};                // (B, U) int64: columns aligned but not exact (ULD rows), -1 padding
};

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // The next micro-batch; nullopt at the end of a finite source (validation). Training sources
  // start a new epoch instead of ending.
  virtual std::optional<Batch> next() = 0;
  // Where the source stands (after the last batch returned), for checkpoints; seek() restores it so
  // a resumed run continues with the next unseen batch.
  virtual nlohmann::ordered_json position() const = 0;
  virtual void seek(const nlohmann::ordered_json& position) = 0;
  // Rewinds a finite source to its start (validation runs).
  virtual void rewind() = 0;
};

}  // namespace distill::train
