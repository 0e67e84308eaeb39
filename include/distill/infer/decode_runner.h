// Decode steps with fixed shapes, replayed as CUDA graphs on the GPU.
//
// A decode step of a 7B model is a few hundred small kernels whose launch cost on the host exceeds
// the GPU's time to read the weights (docs/benchmarks/decode_h200.md). DecodeRunner runs each step
// in static-shape form (ForwardOptions::decode_position): the position lives in a device tensor and
// every layer attends over a fixed bucket of cache slots under a mask. One step per bucket runs
// eagerly and is then captured as a CUDA graph; later steps in that bucket replay the graph, one
// launch for the whole model. Off the GPU (or with graphs off) the same static form runs eagerly,
// which is what the CPU tests compare against the ordinary cached forward.
#pragma once

#include <cstdint>
#include <memory>

#include "distill/models/causal_lm.h"

namespace distill::infer {

struct DecodeRunnerOptions {
  bool cuda_graphs = true;    // capture and replay on CUDA devices (ignored elsewhere)
  std::int64_t bucket = 256;  // keys attended per step: the length so far, rounded up to this
};

class DecodeRunner {
 public:
  // `cache` must already hold the prompt (a prefill through the ordinary cached forward) and
  // outlive the runner; the model must stay in no-grad inference use while the runner lives.
  DecodeRunner(models::CausalLMImpl& model, models::KvCache& cache, DecodeRunnerOptions options = {});
  ~DecodeRunner();
  DecodeRunner(const DecodeRunner&) = delete;
  DecodeRunner& operator=(const DecodeRunner&) = delete;

  // Runs `ids` (B, 1), int64 on the model's device, at position cache.length, appends its keys and
  // values, advances cache.length and returns the logits of that position, (B, V) in the model's
  // dtype. The returned tensor may be overwritten by the next step: read it first.
  at::Tensor step(const at::Tensor& ids);

  // How many CUDA graphs are captured (0 off the GPU or with graphs off).
  std::int64_t graphs() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace distill::infer
