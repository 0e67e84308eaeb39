// The training data loader: fixed-length samples (packed or padded) from a Corpus, in a seeded
// per-epoch order, batched on a background thread, with an exact, resumable position
// (semantics: docs/data.md, "The loader").
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "distill/data/corpus.h"

namespace distill::data {

struct LoaderOptions {
  std::int64_t seq_len = 2048;    // T: tokens per row of input_ids
  std::int64_t micro_batch = 4;   // B: rows per batch
  bool packing = true;            // documents joined by EOS, cut into sequences of T + 1 tokens
  bool shuffle = true;            // a seeded permutation of the samples, new each epoch
  std::int64_t seed = 1234;
  bool repeat = true;             // true: epochs without end (training); false: one pass, last batch may be short
  bool split_long = true;         // padding: a document over T + 1 tokens gives several samples (false: its first only)
  std::int64_t rank = 0;          // this process takes samples rank, rank + world_size, ... of each epoch's order
  std::int64_t world_size = 1;
  std::int64_t prefetch = 2;      // batches prepared ahead on a background thread; 0: made in next()
  bool pin_memory = false;        // page-locked host tensors (used only when CUDA is available)
};

// Where a row's tokens came from, for re-tokenizing the same text (cross-tokenizer, issue #7):
// columns [column, column + token_end - token_begin) of the row's T + 1 token window are tokens
// [token_begin, token_end) of corpus document `document`. Separators (EOS) belong to no span.
struct Span {
  std::int64_t column = 0;
  std::int64_t document = 0;
  std::int64_t token_begin = 0, token_end = 0;
};

struct Batch {
  at::Tensor input_ids;       // (B, T) int64: window[0 .. T)
  at::Tensor labels;          // (B, T) int64: window[1 .. T], -100 where nothing is to be predicted (padding)
  at::Tensor attention_mask;  // (B, T) int64 1/0; undefined when no row holds padding
  std::vector<std::vector<Span>> spans;  // per row
  std::int64_t epoch = 0;     // epoch of the first row
};

class Loader {
 public:
  // Throws InputError when the corpus cannot give a single sample (empty, or packing with fewer
  // than T + 1 tokens while repeating), UsageError for bad options.
  Loader(Corpus corpus, LoaderOptions options);
  ~Loader();  // stops and joins the prefetch thread, even mid-epoch
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The next batch; nullopt once a non-repeating pass is over. Errors of the prefetch thread are
  // rethrown here.
  std::optional<Batch> next();

  // The position of the batch next() returns next: store it in a checkpoint, seek() to it later.
  nlohmann::ordered_json position() const;
  // Continues at a position from position(). A position of another corpus or other options is
  // accepted with a warning (the order then differs from the interrupted run's); a malformed one is
  // an InputError. {} (or null) is the start.
  void seek(const nlohmann::ordered_json& position);

  std::int64_t samples_per_epoch() const;  // all ranks together
  const Corpus& corpus() const;
  const LoaderOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace distill::data
