// Decoder layers (all or some) in pinned host memory, copied to two GPU slots in turn (see layer_streaming.h).
#include "distill/models/layer_streaming.h"

#include <algorithm>
#include <array>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "distill/models/causal_lm.h"

#ifdef DISTILL_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace distill::models {

#ifdef DISTILL_WITH_CUDA
namespace {

class CudaLayerStreamer : public LayerStreamer {
 public:
  // params[o]: the parameters of the o-th streamed layer, which is the model's layer ids[o].
  CudaLayerStreamer(std::vector<std::vector<at::Tensor>> params, const std::vector<std::int64_t>& ids,
                    std::int64_t num_layers, const at::Device& device)
      : params_(std::move(params)),
        ordinal_(static_cast<size_t>(num_layers), -1),
        copy_(c10::cuda::getStreamFromPool(false, device.index())) {
    for (size_t o = 0; o < ids.size(); ++o) ordinal_[static_cast<size_t>(ids[o])] = static_cast<std::int64_t>(o);
    for (auto& layer : params_) {
      std::vector<at::Tensor> host;
      for (at::Tensor& p : layer) {
        host.push_back(p.data().pin_memory());
        p.set_data(host.back());
      }
      host_.push_back(std::move(host));
    }
    // Two slots, one when a single layer streams (it then stays in its slot between passes).
    for (size_t s = 0; s < std::min<size_t>(slots_.size(), params_.size()); ++s) {
      for (const at::Tensor& p : host_.front()) {
        slots_[s].push_back(at::empty(p.sizes(), p.options().device(device).pinned_memory(false)));
        bytes_ += p.numel() * p.element_size();
      }
    }
    prefetch(0);
  }

  // Resident layers (no ordinal) need nothing; a streamed one waits for its slot, then the next
  // streamed layer's copy starts, so it overlaps this layer and the resident ones in between.
  void before_layer(std::int64_t i) override {
    const std::int64_t o = ordinal_[static_cast<size_t>(i)];
    if (o < 0) return;
    const size_t s = static_cast<size_t>(o % 2);
    if (loaded_[s] != o) prefetch(o);  // a forward pass that did not start at the first prefetch
    copied_[s].block(c10::cuda::getCurrentCUDAStream(copy_.device_index()));
    auto& layer = params_[static_cast<size_t>(o)];
    for (size_t k = 0; k < layer.size(); ++k) layer[k].set_data(slots_[s][k]);
    // The other slot is free once the previous streamed layer's work (queued before this point) is done.
    if (o + 1 < static_cast<std::int64_t>(params_.size())) prefetch(o + 1);
  }

  void after_layer(std::int64_t i) override {
    const std::int64_t o = ordinal_[static_cast<size_t>(i)];
    if (o < 0) return;
    const size_t s = static_cast<size_t>(o % 2);
    used_[s].record(c10::cuda::getCurrentCUDAStream(copy_.device_index()));
    auto& layer = params_[static_cast<size_t>(o)];
    for (size_t k = 0; k < layer.size(); ++k) layer[k].set_data(host_[static_cast<size_t>(o)][k]);
    // The next forward pass's first streamed layer: its copy overlaps whatever runs in between.
    if (o + 1 == static_cast<std::int64_t>(params_.size())) prefetch(0);
  }

  std::int64_t slot_bytes() const override { return bytes_; }  // both slots (or the one)

 private:
  // Copies streamed layer o into its slot on the copy stream, after the slot's last reader finished.
  void prefetch(std::int64_t o) {
    const size_t s = static_cast<size_t>(o % 2);
    if (loaded_[s] == o) return;
    const c10::cuda::CUDAStreamGuard guard(copy_);
    used_[s].block(copy_);
    const auto& host = host_[static_cast<size_t>(o)];
    for (size_t k = 0; k < host.size(); ++k) slots_[s][k].copy_(host[k], /*non_blocking=*/true);
    copied_[s].record(copy_);
    loaded_[s] = o;
  }

  std::vector<std::vector<at::Tensor>> params_;  // the streamed layers' parameters (their data is swapped)
  std::vector<std::vector<at::Tensor>> host_;    // pinned copies, one per streamed layer
  std::vector<std::int64_t> ordinal_;            // per model layer: its place among the streamed ones, or -1
  std::array<std::vector<at::Tensor>, 2> slots_;
  std::array<at::cuda::CUDAEvent, 2> copied_, used_;
  std::array<std::int64_t, 2> loaded_{-1, -1};
  c10::cuda::CUDAStream copy_;
  std::int64_t bytes_ = 0;
};

}  // namespace
#endif

std::vector<std::int64_t> streamed_layer_ids(std::int64_t num_layers, std::int64_t count) {
  if (num_layers < 1) throw std::invalid_argument("the model has no decoder layers to stream");
  if (count < 0 || count > num_layers) {
    throw std::invalid_argument("cannot stream " + std::to_string(count) + " decoder layers: the model has " +
                                std::to_string(num_layers));
  }
  if (count == 0) count = num_layers;
  std::vector<std::int64_t> ids;
  // The middle of each of `count` equal stretches of the stack: distinct, ascending, evenly spaced.
  for (std::int64_t o = 0; o < count; ++o) ids.push_back((2 * o + 1) * num_layers / (2 * count));
  return ids;
}

void stream_layers_from_host(CausalLMImpl& model, const at::Device& device, std::int64_t count) {
  const std::vector<std::int64_t> ids = streamed_layer_ids(model.num_layers(), count);
  if (!device.is_cuda()) throw std::invalid_argument("streaming layers from host memory needs a CUDA device");
#ifndef DISTILL_WITH_CUDA
  (void)model;
  (void)ids;
  throw std::invalid_argument("this distill was built without CUDA: layers cannot be streamed to a GPU");
#else
  std::vector<std::vector<at::Tensor>> layers;
  std::set<const void*> streamed;
  for (const std::int64_t i : ids) {
    layers.push_back(model.layer(i).parameters());
    for (const at::Tensor& p : layers.back()) streamed.insert(p.unsafeGetTensorImpl());
    const auto& first = layers.front();
    const auto& these = layers.back();
    bool same = these.size() == first.size();
    for (size_t k = 0; same && k < these.size(); ++k) same = these[k].sizes() == first[k].sizes();
    if (!same) {
      throw std::invalid_argument("layer " + std::to_string(i) + " differs in shape from layer " +
                                  std::to_string(ids.front()) + ": the streamed layers share slots of one shape");
    }
  }
  const c10::cuda::CUDAGuard device_guard(device);
  for (at::Tensor& p : model.parameters()) {
    if (!streamed.count(p.unsafeGetTensorImpl())) p.set_data(p.data().to(device));
  }
  model.set_layer_streamer(std::make_shared<CudaLayerStreamer>(std::move(layers), ids, model.num_layers(), device),
                           device);
#endif
}

}  // namespace distill::models
