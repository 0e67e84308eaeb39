// Decoder layers in pinned host memory, copied to two GPU slots in turn (see layer_streaming.h).
#include "distill/models/layer_streaming.h"

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
  CudaLayerStreamer(std::vector<std::vector<at::Tensor>> params, const at::Device& device)
      : params_(std::move(params)), copy_(c10::cuda::getStreamFromPool(false, device.index())) {
    for (auto& layer : params_) {
      std::vector<at::Tensor> host;
      for (at::Tensor& p : layer) {
        host.push_back(p.data().pin_memory());
        p.set_data(host.back());
      }
      host_.push_back(std::move(host));
    }
    for (auto& slot : slots_) {
      for (const at::Tensor& p : host_.front()) {
        slot.push_back(at::empty(p.sizes(), p.options().device(device).pinned_memory(false)));
        bytes_ += p.numel() * p.element_size();
      }
    }
    prefetch(0);
  }

  void before_layer(std::int64_t i) override {
    const size_t s = static_cast<size_t>(i % 2);
    if (loaded_[s] != i) prefetch(i);  // a forward pass that did not start at layer 0's prefetch
    copied_[s].block(c10::cuda::getCurrentCUDAStream(copy_.device_index()));
    auto& layer = params_[static_cast<size_t>(i)];
    for (size_t k = 0; k < layer.size(); ++k) layer[k].set_data(slots_[s][k]);
    // The other slot is free once the previous layer's work (queued before this point) is done.
    if (i + 1 < static_cast<std::int64_t>(params_.size())) prefetch(i + 1);
  }

  void after_layer(std::int64_t i) override {
    const size_t s = static_cast<size_t>(i % 2);
    used_[s].record(c10::cuda::getCurrentCUDAStream(copy_.device_index()));
    auto& layer = params_[static_cast<size_t>(i)];
    for (size_t k = 0; k < layer.size(); ++k) layer[k].set_data(host_[static_cast<size_t>(i)][k]);
    // The next forward pass starts with layer 0: its copy overlaps whatever runs in between.
    if (i + 1 == static_cast<std::int64_t>(params_.size())) prefetch(0);
  }

  std::int64_t slot_bytes() const override { return bytes_; }  // both slots

 private:
  // Copies layer i into its slot on the copy stream, after the slot's last reader finished.
  void prefetch(std::int64_t i) {
    const size_t s = static_cast<size_t>(i % 2);
    if (loaded_[s] == i) return;
    const c10::cuda::CUDAStreamGuard guard(copy_);
    used_[s].block(copy_);
    const auto& host = host_[static_cast<size_t>(i)];
    for (size_t k = 0; k < host.size(); ++k) slots_[s][k].copy_(host[k], /*non_blocking=*/true);
    copied_[s].record(copy_);
    loaded_[s] = i;
  }

  std::vector<std::vector<at::Tensor>> params_;  // the layers' parameters (their data is swapped)
  std::vector<std::vector<at::Tensor>> host_;    // pinned copies, one per layer
  std::array<std::vector<at::Tensor>, 2> slots_;
  std::array<at::cuda::CUDAEvent, 2> copied_, used_;
  std::array<std::int64_t, 2> loaded_{-1, -1};
  c10::cuda::CUDAStream copy_;
  std::int64_t bytes_ = 0;
};

}  // namespace
#endif

void stream_layers_from_host(CausalLMImpl& model, const at::Device& device) {
  if (!device.is_cuda()) throw std::invalid_argument("streaming layers from host memory needs a CUDA device");
#ifndef DISTILL_WITH_CUDA
  (void)model;
  throw std::invalid_argument("this distill was built without CUDA: layers cannot be streamed to a GPU");
#else
  std::vector<std::vector<at::Tensor>> layers;
  std::set<const void*> in_layers;
  for (std::int64_t i = 0; i < model.num_layers(); ++i) {
    layers.push_back(model.layer(i).parameters());
    for (const at::Tensor& p : layers.back()) in_layers.insert(p.unsafeGetTensorImpl());
    const auto& first = layers.front();
    const auto& these = layers.back();
    bool same = these.size() == first.size();
    for (size_t k = 0; same && k < these.size(); ++k) same = these[k].sizes() == first[k].sizes();
    if (!same) {
      throw std::invalid_argument("layer " + std::to_string(i) +
                                  " differs in shape from layer 0: streaming needs layers of one shape");
    }
  }
  if (layers.empty()) throw std::invalid_argument("the model has no decoder layers to stream");
  const c10::cuda::CUDAGuard device_guard(device);
  for (at::Tensor& p : model.parameters()) {
    if (!in_layers.count(p.unsafeGetTensorImpl())) p.set_data(p.data().to(device));
  }
  model.set_layer_streamer(std::make_shared<CudaLayerStreamer>(std::move(layers), device), device);
#endif
}

}  // namespace distill::models
