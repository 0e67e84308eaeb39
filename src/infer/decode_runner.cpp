// Static-shape decode steps and their CUDA graphs (see decode_runner.h).
#include "distill/infer/decode_runner.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>

#ifdef DISTILL_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace distill::infer {

struct DecodeRunner::Impl {
  models::CausalLMImpl* model;
  models::KvCache* cache;
  DecodeRunnerOptions options;
  bool use_graphs = false;
  at::Tensor ids;       // (B, 1): the graphs' input
  at::Tensor position;  // (1): the graphs' position
#ifdef DISTILL_WITH_CUDA
  struct Captured {
    std::unique_ptr<at::cuda::CUDAGraph> graph;
    at::Tensor logits;  // written by every replay
  };
  std::map<std::int64_t, Captured> graphs;  // by keys attended
#endif

  // Keys attended for a token at position `pos`: pos + 1 rounded up to the bucket, within capacity.
  std::int64_t attend_len(std::int64_t pos) const {
    const std::int64_t b = options.bucket;
    return std::min(cache->capacity, (pos + 1 + b - 1) / b * b);
  }

  at::Tensor forward(std::int64_t attend) {
    models::ForwardOptions fo;
    fo.kv_cache = cache;
    fo.decode_position = position;
    fo.attend_len = attend;
    return model->logits(model->hidden_states(ids, fo).select(1, 0));  // (B, V)
  }
};

DecodeRunner::DecodeRunner(models::CausalLMImpl& model, models::KvCache& cache, DecodeRunnerOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (options.bucket <= 0) throw std::invalid_argument("DecodeRunner: bucket must be positive");
  impl_->model = &model;
  impl_->cache = &cache;
  impl_->options = options;
  impl_->use_graphs = options.cuda_graphs && model.device().is_cuda();
#ifndef DISTILL_WITH_CUDA
  impl_->use_graphs = false;
#endif
  impl_->position = at::zeros({1}, at::TensorOptions().dtype(at::kLong).device(model.device()));
}

DecodeRunner::~DecodeRunner() = default;

std::int64_t DecodeRunner::graphs() const {
#ifdef DISTILL_WITH_CUDA
  return static_cast<std::int64_t>(impl_->graphs.size());
#else
  return 0;
#endif
}

at::Tensor DecodeRunner::step(const at::Tensor& ids) {
  Impl& m = *impl_;
  models::KvCache& cache = *m.cache;
  if (ids.dim() != 2 || ids.size(1) != 1) throw std::invalid_argument("DecodeRunner: ids must be (B, 1)");
  if (cache.length >= cache.capacity) {
    throw std::invalid_argument("DecodeRunner: the KV cache holds " + std::to_string(cache.capacity) + " tokens");
  }
  if (!m.ids.defined()) m.ids = at::empty(ids.sizes(), ids.options());
  if (!m.ids.sizes().equals(ids.sizes())) throw std::invalid_argument("DecodeRunner: the batch size changed");
  torch::NoGradGuard no_grad;
  m.ids.copy_(ids);
  m.position.fill_(cache.length);
  const std::int64_t attend = m.attend_len(cache.length);
  at::Tensor out;
#ifdef DISTILL_WITH_CUDA
  if (m.use_graphs) {
    auto it = m.graphs.find(attend);
    if (it != m.graphs.end()) {
      it->second.graph->replay();
      out = it->second.logits;
    } else {
      // First step in this bucket: run it eagerly on a side stream (this writes the cache slot and
      // warms up every kernel's lazy state), then capture the same step there for later replays.
      // Capture records without executing, so the cache is written once.
      const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, m.model->device().index());
      torch::cuda::synchronize(m.model->device().index());
      Impl::Captured c;
      {
        const c10::cuda::CUDAStreamGuard guard(side);
        out = m.forward(attend);
        side.synchronize();
        c.graph = std::make_unique<at::cuda::CUDAGraph>();
        c.graph->capture_begin();
        c.logits = m.forward(attend);
        c.graph->capture_end();
      }
      torch::cuda::synchronize(m.model->device().index());
      m.graphs.emplace(attend, std::move(c));
    }
    cache.length += 1;
    return out;
  }
#endif
  out = m.forward(attend);
  cache.length += 1;
  return out;
}

}  // namespace distill::infer
