// CausalLM: the one decoder-only transformer every family maps onto (see spec.h), as a torch Module.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "distill/models/layer_streaming.h"
#include "distill/models/layers.h"
#include "distill/models/spec.h"

namespace distill::models {

// Keys and values of one layer for incremental decoding, in preallocated buffers.
struct KvLayer {
  at::Tensor k, v;            // (B, KV, capacity, D), allocated when the first tokens arrive
  std::int64_t capacity = 0;  // tokens the buffers hold
};

// The decoder's memory of the tokens seen so far (generation). Positions continue from `length`.
struct KvCache {
  explicit KvCache(std::int64_t capacity_tokens) : capacity(capacity_tokens) {}
  std::int64_t capacity;      // most tokens it can hold (prompt + generated)
  std::int64_t length = 0;    // tokens seen
  std::vector<KvLayer> layers;
};

// Sees activations during a forward pass (calibration for pruning, src/student/importance.cpp).
// Set with CausalLMImpl::set_observer; every call happens inside the forward, under its grad mode.
class ActivationObserver {
 public:
  virtual ~ActivationObserver() = default;
  // The residual stream entering and leaving decoder layer `layer`: (B, T, C) each.
  virtual void layer_io(std::int64_t layer, const at::Tensor& input, const at::Tensor& output) = 0;
  // A layer norm's output (both norms of a layer, in order): (B, T, C).
  virtual void norm_output(std::int64_t layer, const at::Tensor& x) = 0;
  // Attention per query head before the output projection: (B, H, T, D).
  virtual void attention_heads(std::int64_t layer, const at::Tensor& y) = 0;
  // The MLP's hidden activations, the down projection's input: (B, T, I).
  virtual void mlp_hidden(std::int64_t layer, const at::Tensor& h) = 0;
};

struct ForwardOptions {
  at::Tensor attention_mask;  // (B, T), 1 = token, 0 = padding; undefined = no padding
  at::Tensor position_ids;    // (B, T) int64; undefined = the family's default
  KvCache* kv_cache = nullptr;  // when set: input_ids follow the cached tokens, which are attended to
  // Static-shape decoding (src/infer/decode_runner.cpp, for CUDA graphs). With kv_cache and one
  // token per row: the token's position is this int64 device tensor of shape (1) instead of
  // kv_cache->length, its keys and values are written at that slot, every layer attends over the
  // first `attend_len` slots under a mask, and kv_cache->length is left for the caller to advance.
  at::Tensor decode_position;
  std::int64_t attend_len = 0;
};

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelSpec& spec, std::int64_t layer, const at::TensorOptions& options);
  // x: (B, T, C) -> (B, T, C)
  // With `cache`, x holds the tokens after the cached ones; their keys and values are appended.
  at::Tensor forward(const at::Tensor& x, const RopeTables* rope, AttentionMasks& masks, KvLayer* cache = nullptr,
                     std::int64_t cache_len = 0);
  void set_observer(ActivationObserver* observer) { observer_ = observer; }

 private:
  const ModelSpec* spec_;
  std::int64_t layer_;
  ActivationObserver* observer_ = nullptr;
  double scale_;
  std::int64_t window_;
  Proj qkv_{nullptr};   // (H*D + 2*KV*D, C): q | k | v fused at load
  Proj o_{nullptr};     // (C, H*D)
  Norm q_norm_{nullptr}, k_norm_{nullptr};  // (D), Qwen3 only
};
TORCH_MODULE(Attention);

class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(const ModelSpec& spec, std::int64_t layer, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);  // (B, T, C) -> (B, T, C)
  void set_observer(ActivationObserver* observer) { observer_ = observer; }

 private:
  const ModelSpec* spec_;
  std::int64_t layer_;
  ActivationObserver* observer_ = nullptr;
  Proj up_{nullptr};    // gated: (2*I, C) = gate | up fused at load; else (I, C)
  Proj down_{nullptr};  // (C, I)
};
TORCH_MODULE(Mlp);

class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(const ModelSpec& spec, std::int64_t layer, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x, const RopeTables* rope, AttentionMasks& masks, KvLayer* cache = nullptr,
                     std::int64_t cache_len = 0);  // (B, T, C)
  // The same, recomputed in backward instead of keeping activations (gradients are identical).
  at::Tensor forward_checkpointed(const at::Tensor& x, const RopeTables* rope, const AttentionMasks& masks);
  // A pre-norm layer with its last residual add left to the caller, who fuses it into the next
  // norm: given x and xn = attn_norm(x), returns (h, d) with the layer's output h + d. The add in
  // between goes into mlp_norm the same way (fused::add_rms_norm, where it applies).
  std::pair<at::Tensor, at::Tensor> forward_deferred(const at::Tensor& x, const at::Tensor& xn, const RopeTables* rope,
                                                     AttentionMasks& masks, KvLayer* cache, std::int64_t cache_len);
  const Norm& attn_norm() const { return attn_norm_; }
  void set_observer(ActivationObserver* observer);

 private:
  at::Tensor norm(const Norm& n, const at::Tensor& x);  // n(x), shown to the observer
  at::Tensor attn_norm_for_product(const at::Tensor& x);  // attn_norm(x), maybe in autocast's type
  const ModelSpec* spec_;
  std::int64_t layer_;
  ActivationObserver* observer_ = nullptr;
  Norm attn_norm_{nullptr}, mlp_norm_{nullptr};
  Attention attn_{nullptr};
  Mlp mlp_{nullptr};
};
TORCH_MODULE(DecoderLayer);

class CausalLMImpl : public torch::nn::Module {
 public:
  // Parameters are allocated (uninitialised) with `options`; fill them with load_weights() or an init.
  CausalLMImpl(ModelSpec spec, const at::TensorOptions& options);

  // input_ids (B, T) int64 -> final hidden states (B, T, E): the LM head's input.
  at::Tensor hidden_states(const at::Tensor& input_ids, const ForwardOptions& options = {});
  // hidden (..., E) -> logits (..., V) in the model dtype.
  at::Tensor logits(const at::Tensor& hidden) const;
  // input_ids (B, T) -> logits (B, T, V).
  at::Tensor forward(const at::Tensor& input_ids, const ForwardOptions& options = {});

  // (V, E): the LM head, which is the token embedding when tied.
  const at::Tensor& lm_head_weight() const;
  const ModelSpec& spec() const { return spec_; }
  at::ScalarType dtype() const { return dtype_; }
  at::Device device() const { return device_; }

  // Recompute each decoder layer in backward instead of keeping its activations.
  void set_grad_checkpointing(bool on) { grad_checkpointing_ = on; }
  bool grad_checkpointing() const { return grad_checkpointing_; }

  // Shows every layer's activations to `observer` during later forward passes; nullptr stops it.
  void set_observer(ActivationObserver* observer);

  // Decoder layers streamed from host memory (layer_streaming.h): what stream_layers_from_host uses.
  std::int64_t num_layers() const { return static_cast<std::int64_t>(layers_->size()); }
  torch::nn::Module& layer(std::int64_t i) { return *(*layers_)[static_cast<size_t>(i)]; }
  void set_layer_streamer(std::shared_ptr<LayerStreamer> streamer, const at::Device& device);
  bool streams_layers() const { return streamer_ != nullptr; }
  std::int64_t layer_streamer_bytes() const { return streamer_ ? streamer_->slot_bytes() : 0; }

 private:
  ActivationObserver* observer_ = nullptr;
  ModelSpec spec_;
  at::ScalarType dtype_;
  at::Device device_;
  bool grad_checkpointing_ = false;
  Proj embed_{nullptr};       // weight (V, E)
  Proj pos_embed_{nullptr};   // weight (max_positions + offset, C), learned positions only
  Proj project_in_{nullptr};  // (C, E), OPT when E != C
  Proj project_out_{nullptr}; // (E, C)
  torch::nn::ModuleList layers_{nullptr};
  Norm final_norm_{nullptr};
  Proj lm_head_{nullptr};     // weight (V, E); absent when tied
  at::Tensor inv_freq_;       // (D/2) fp32, RoPE only (not a parameter, not saved)
  std::shared_ptr<LayerStreamer> streamer_;  // set: layers live in host memory
};
TORCH_MODULE(CausalLM);

}  // namespace distill::models
