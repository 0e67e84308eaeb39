// The decoder forward pass: embeddings -> N x (attention + MLP) -> final norm -> LM head.
#if defined(__GNUC__) && !defined(__clang__)
// g++ 13 reports false -Warray-bounds / -Wstringop-overflow warnings inside LibTorch's autograd::Function::apply (a vector<bool>
// copy in its headers, inlined here). The location is in library headers, so it is silenced for
// this file only.
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
#include "distill/models/causal_lm.h"

#include "distill/util/autocast.h"
#include "distill/util/tuned_gemm.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/autograd.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "fused_ops.h"
#include "linear_ops.h"

namespace distill::models {

// ---------------------------------------------------------------- attention
AttentionImpl::AttentionImpl(const ModelSpec& spec, std::int64_t layer, const at::TensorOptions& options)
    : spec_(&spec), layer_(layer) {
  scale_ = 1.0 / std::sqrt(static_cast<double>(spec.head_dim));
  if (!spec.attn_score_divisor.empty()) scale_ /= spec.attn_score_divisor[static_cast<size_t>(layer)];
  window_ = spec.sliding_window[static_cast<size_t>(layer)];
  qkv_ = register_module("qkv", Proj(spec.q_size() + 2 * spec.kv_size(), spec.hidden_size, spec.qkv_bias, options));
  o_ = register_module("o", Proj(spec.hidden_size, spec.q_size(), spec.o_bias, options));
  if (spec.qk_norm) {
    q_norm_ = register_module("q_norm", Norm(NormKind::kRMSNorm, spec.head_dim, spec.norm_eps, options));
    k_norm_ = register_module("k_norm", Norm(NormKind::kRMSNorm, spec.head_dim, spec.norm_eps, options));
  }
}

at::Tensor AttentionImpl::forward(const at::Tensor& x, const RopeTables* rope, AttentionMasks& masks, KvLayer* cache,
                                  std::int64_t cache_len) {
  const ModelSpec& s = *spec_;
  const std::int64_t B = x.size(0), T = x.size(1);
  const at::Tensor qkv = qkv_->forward(x);  // (B, T, H*D + 2*KV*D)
  // One split, not three narrows: the same views, but in backward one concatenation of the three
  // gradients instead of a zero-filled (B, T, H*D + 2*KV*D) tensor per part and two adds.
  const std::vector<at::Tensor> parts = at::split_with_sizes(qkv, {s.q_size(), s.kv_size(), s.kv_size()}, -1);
  at::Tensor q = parts[0].view({B, T, s.num_heads, s.head_dim});
  at::Tensor k = parts[1].view({B, T, s.num_kv_heads, s.head_dim});
  at::Tensor v = parts[2].view({B, T, s.num_kv_heads, s.head_dim});
  if (s.qk_norm) {
    q = q_norm_->forward(q);
    k = k_norm_->forward(k);
  }
  q = q.transpose(1, 2);  // (B, H, T, D)
  k = k.transpose(1, 2);  // (B, KV, T, D)
  v = v.transpose(1, 2);
  if (rope) {
    // Attention under CUDA autocast casts q and k to its type: where RoPE's tables would promote
    // them to fp32, RoPE stores them in that type itself (the same values, no fp32 round trip).
    at::ScalarType store_to = at::ScalarType::Undefined;
    if (!cache && x.is_cuda()) {
      const AutocastState autocast = autocast_state(c10::DeviceType::CUDA);
      if (autocast.enabled && autocast.dtype == q.scalar_type()) store_to = autocast.dtype;
    }
    q = apply_rope(q, *rope, s.rope.compute_in_fp32, store_to);
    k = apply_rope(k, *rope, s.rope.compute_in_fp32, store_to);
  }
  at::Tensor out;
  if (cache) {
    // Append this step's keys and values to the buffers, then attend over everything so far.
    if (!cache->k.defined()) {
      // Zeros, not garbage: static-shape decoding reads slots not written yet (masked out, but a
      // NaN there would still poison the masked sums).
      cache->k = at::zeros({B, s.num_kv_heads, cache->capacity, s.head_dim}, k.options());
      cache->v = at::zeros({B, s.num_kv_heads, cache->capacity, s.head_dim}, v.options());
    }
    if (masks.decode_position.defined()) {
      // Static shapes: the slot comes from the device, the keys attended are a fixed prefix.
      cache->k.index_copy_(2, masks.decode_position, k);
      cache->v.index_copy_(2, masks.decode_position, v);
      out = static_decode_attention(q, cache->k.narrow(2, 0, masks.attend_len), cache->v.narrow(2, 0, masks.attend_len),
                                    scale_, window_, masks);
      if (observer_) observer_->attention_heads(layer_, out);
      return o_->forward(out.transpose(1, 2).reshape({B, T, s.q_size()}));
    }
    cache->k.narrow(2, cache_len, T).copy_(k);
    cache->v.narrow(2, cache_len, T).copy_(v);
    out = offset_causal_attention(q, cache->k.narrow(2, 0, cache_len + T), cache->v.narrow(2, 0, cache_len + T), scale_,
                                  window_, cache_len);
  } else {
    out = causal_attention(q, k, v, scale_, window_, masks);  // (B, H, T, D)
  }
  if (observer_) observer_->attention_heads(layer_, out);
  return o_->forward(out.transpose(1, 2).reshape({B, T, s.q_size()}));
}

// ---------------------------------------------------------------- MLP
MlpImpl::MlpImpl(const ModelSpec& spec, std::int64_t layer, const at::TensorOptions& options)
    : spec_(&spec), layer_(layer) {
  const std::int64_t rows = spec.gated_mlp ? 2 * spec.intermediate_size : spec.intermediate_size;
  up_ = register_module("up", Proj(rows, spec.hidden_size, spec.mlp_bias, options));
  down_ = register_module("down", Proj(spec.hidden_size, spec.intermediate_size, spec.mlp_bias, options));
}

at::Tensor MlpImpl::forward(const at::Tensor& x) {
  if (!spec_->gated_mlp) {
    const at::Tensor h = activate(up_->forward(x), spec_->activation);  // (B, T, I)
    if (observer_) observer_->mlp_hidden(layer_, h);
    return down_->forward(h);
  }
  // gate and up are stored as one [2I, C] parameter but multiplied as two row blocks (contiguous
  // views, no copy): each product comes out contiguous, so the activation and the product run on
  // the vectorized elementwise path. Narrowing one [.., 2I] output instead makes both strided,
  // which measured 1.7% slower per LLaMA-7B layer on the H200 (scripts/bench/layer_variants.py).
  const std::int64_t I = spec_->intermediate_size;
  const at::Tensor& w = up_->weight;
  const at::Tensor& b = up_->bias;
  // Training: one autograd node for both blocks, whose backward writes the [2I, C] weight's
  // gradient whole (linear_ops.h); else the two products through at::linear.
  auto [gate, up] = fused::gate_up(x, w, b);
  if (!gate.defined()) {
    // Without autograd (the teacher) each block through the tuned products where they apply.
    const auto block = [&](std::int64_t first) {
      return linear_tuned_or_aten(x, w.narrow(0, first, I), b.defined() ? b.narrow(0, first, I) : at::Tensor());
    };
    gate = block(0);
    up = block(I);
  }
  if (spec_->activation == Activation::kSiLU && !observer_) {
    // Training: the (B, T, I) product is recomputed in backward instead of kept (fused_ops.h).
    if (at::Tensor y = fused::silu_mul_linear(gate, up, down_->weight, down_->bias); y.defined()) return y;
  }
  const at::Tensor h = gated_activation(gate, up, spec_->activation);  // (B, T, I)
  if (observer_) observer_->mlp_hidden(layer_, h);
  return down_->forward(h);
}

// ---------------------------------------------------------------- decoder layer
DecoderLayerImpl::DecoderLayerImpl(const ModelSpec& spec, std::int64_t layer, const at::TensorOptions& options)
    : spec_(&spec), layer_(layer) {
  attn_norm_ = register_module("attn_norm", Norm(spec.norm, spec.hidden_size, spec.norm_eps, options));
  attn_ = register_module("attn", Attention(spec, layer, options));
  mlp_norm_ = register_module("mlp_norm", Norm(spec.norm, spec.hidden_size, spec.norm_eps, options));
  mlp_ = register_module("mlp", Mlp(spec, layer, options));
}

void DecoderLayerImpl::set_observer(ActivationObserver* observer) {
  observer_ = observer;
  attn_->set_observer(observer);
  mlp_->set_observer(observer);
}

at::Tensor DecoderLayerImpl::norm(const Norm& n, const at::Tensor& x) {
  at::Tensor y = n->forward(x);
  if (observer_) observer_->norm_output(layer_, y);
  return y;
}

namespace {

// The dtype attn_norm(x) is written in for the q/k/v product: autocast's, where an fp32 RMSNorm on
// the GPU writes it itself (fused::rms_norm_to), else x's.
at::ScalarType product_norm_type(const Norm& n, const at::Tensor& x) {
  if (n->kind == NormKind::kRMSNorm && x.is_cuda() && x.scalar_type() == at::kFloat && fused::rms_norm_to_on()) {
    const AutocastState autocast = autocast_state(c10::DeviceType::CUDA);
    if (autocast.enabled && (autocast.dtype == at::kBFloat16 || autocast.dtype == at::kHalf)) return autocast.dtype;
  }
  return x.scalar_type();
}

// n(x) in product_norm_type's dtype where rms_norm_to takes it, else n(x) (no observer).
at::Tensor norm_for_product(const Norm& n, const at::Tensor& x) {
  const at::ScalarType out = product_norm_type(n, x);
  if (out != x.scalar_type()) {
    if (at::Tensor y = fused::rms_norm_to(x, n->weight, n->eps, out); y.defined()) return y;
  }
  return n->forward(x);
}

}  // namespace

// attn_norm(x) for the q/k/v product: under CUDA autocast an fp32 RMSNorm writes autocast's type
// itself (the values of the norm and the product's cast of it), and the product's gradient w.r.t.
// it comes back in that type: one rounding of the whole sum over q, k and v, where transformers'
// three products round each part and add them in fp32. Not for mlp_norm: its product's two row
// blocks would add two rounded parts in bf16. The observer keeps the plain norm.
at::Tensor DecoderLayerImpl::attn_norm_for_product(const at::Tensor& x) {
  return observer_ ? norm(attn_norm_, x) : norm_for_product(attn_norm_, x);
}

namespace {

// (x + d, n(x + d)): one fused kernel where it applies (an RMSNorm on the GPU; under autograd its
// backward is one kernel as well), else ATen's add and the norm. for_product: n is attn_norm, its
// output written as attn_norm_for_product writes it (autocast's dtype under autocast).
std::pair<at::Tensor, at::Tensor> add_then_norm(const Norm& n, const at::Tensor& x, const at::Tensor& d,
                                                bool for_product = false) {
  if (n->kind == NormKind::kRMSNorm) {
    const at::ScalarType out = for_product ? product_norm_type(n, x) : x.scalar_type();
    auto hy = fused::add_rms_norm_to(x, d, n->weight, n->eps, out);
    if (hy.first.defined()) return hy;
  }
  at::Tensor h = x + d;
  at::Tensor y = for_product ? norm_for_product(n, h) : n->forward(h);
  return {std::move(h), std::move(y)};
}

}  // namespace

std::pair<at::Tensor, at::Tensor> DecoderLayerImpl::forward_deferred(const at::Tensor& x, const at::Tensor& xn,
                                                                     const RopeTables* rope, AttentionMasks& masks,
                                                                     KvLayer* cache, std::int64_t cache_len) {
  auto [h, hn] = add_then_norm(mlp_norm_, x, attn_->forward(xn, rope, masks, cache, cache_len));
  at::Tensor d = mlp_->forward(hn);
  return {std::move(h), std::move(d)};
}

at::Tensor DecoderLayerImpl::forward(const at::Tensor& x, const RopeTables* rope, AttentionMasks& masks, KvLayer* cache,
                                     std::int64_t cache_len) {
  if (spec_->pre_norm) {
    const at::Tensor h = x + attn_->forward(attn_norm_for_product(x), rope, masks, cache, cache_len);
    return h + mlp_->forward(norm(mlp_norm_, h));
  }
  // OPT-350m style: normalise after each residual addition.
  const at::Tensor h = norm(attn_norm_, x + attn_->forward(x, rope, masks, cache, cache_len));
  return norm(mlp_norm_, h + mlp_->forward(h));
}

namespace {

// What a recomputed layer needs besides its input; passed as one non-tensor argument because
// undefined tensors (no RoPE, no padding) cannot be autograd inputs.
struct LayerExtras {
  DecoderLayerImpl* layer;
  at::Tensor cos, sin, key_padding;  // any may be undefined
};

// Autocast is thread-local and backward runs on autograd's threads: the recomputation must run
// under the autocast state the forward saw, or it computes another function.
struct SavedAutocast {
  AutocastState cuda, cpu;
  static SavedAutocast capture() {
    return {autocast_state(c10::DeviceType::CUDA), autocast_state(c10::DeviceType::CPU)};
  }
};

at::Tensor run_layer(const LayerExtras& e, const at::Tensor& x) {
  AttentionMasks masks;
  masks.seq_len = x.size(1);
  masks.key_padding = e.key_padding;
  RopeTables rope{e.cos, e.sin};
  return e.layer->forward(x, e.cos.defined() ? &rope : nullptr, masks);
}

// Runs one decoder layer without keeping its activations, and again in backward. Parameter
// gradients flow through the re-entrant backward of the recomputed graph.
class RecomputeLayer : public torch::autograd::Function<RecomputeLayer> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const LayerExtras& extras) {
    ctx->save_for_backward({x});
    ctx->saved_data["layer"] = static_cast<std::int64_t>(reinterpret_cast<std::intptr_t>(extras.layer));
    const SavedAutocast autocast = SavedAutocast::capture();
    ctx->saved_data["autocast"] = std::vector<std::int64_t>{
        autocast.cuda.enabled, static_cast<std::int64_t>(autocast.cuda.dtype), autocast.cpu.enabled,
        static_cast<std::int64_t>(autocast.cpu.dtype)};
    for (const auto& [key, t] : {std::pair<const char*, const at::Tensor*>{"cos", &extras.cos},
                                 {"sin", &extras.sin}, {"key_padding", &extras.key_padding}}) {
      if (t->defined()) ctx->saved_data[key] = *t;
    }
    at::NoGradGuard no_grad;
    return run_layer(extras, x);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const at::Tensor x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    LayerExtras e;
    e.layer = reinterpret_cast<DecoderLayerImpl*>(static_cast<std::intptr_t>(ctx->saved_data["layer"].toInt()));
    auto get = [&](const char* key) {
      auto it = ctx->saved_data.find(key);
      return it == ctx->saved_data.end() ? at::Tensor() : it->second.toTensor();
    };
    e.cos = get("cos");
    e.sin = get("sin");
    e.key_padding = get("key_padding");
    const auto saved = ctx->saved_data["autocast"].toIntVector();
    at::Tensor y;
    {
      at::AutoGradMode grad_on(true);
      AutocastScope cuda(c10::DeviceType::CUDA, saved[0] != 0, static_cast<c10::ScalarType>(saved[1]));
      AutocastScope cpu(c10::DeviceType::CPU, saved[2] != 0, static_cast<c10::ScalarType>(saved[3]));
      y = run_layer(e, x);
    }
    torch::autograd::backward({y}, {grad_out[0]});
    return {x.grad(), at::Tensor()};
  }
};

}  // namespace

at::Tensor DecoderLayerImpl::forward_checkpointed(const at::Tensor& x, const RopeTables* rope,
                                                  const AttentionMasks& masks) {
  LayerExtras extras{this, rope ? rope->cos : at::Tensor(), rope ? rope->sin : at::Tensor(), masks.key_padding};
  return RecomputeLayer::apply(x, extras);
}

// ---------------------------------------------------------------- model
CausalLMImpl::CausalLMImpl(ModelSpec spec, const at::TensorOptions& options)
    : spec_(std::move(spec)), dtype_(options.dtype().toScalarType()), device_(options.device()) {
  const ModelSpec& s = spec_;
  embed_ = register_module("embed", Proj(s.vocab_size, s.embed_dim, false, options));
  if (s.positions == Positions::kLearned) {
    pos_embed_ = register_module("pos_embed", Proj(s.max_positions + s.position_offset, s.hidden_size, false, options));
  }
  if (s.embed_dim != s.hidden_size) {
    project_in_ = register_module("project_in", Proj(s.hidden_size, s.embed_dim, false, options));
    project_out_ = register_module("project_out", Proj(s.embed_dim, s.hidden_size, false, options));
  }
  layers_ = register_module("layers", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < s.num_layers; ++i) layers_->push_back(DecoderLayer(spec_, i, options));
  if (s.final_norm) final_norm_ = register_module("final_norm", Norm(s.norm, s.hidden_size, s.norm_eps, options));
  if (!s.tie_word_embeddings) lm_head_ = register_module("lm_head", Proj(s.vocab_size, s.embed_dim, false, options));
  if (s.positions == Positions::kRope) inv_freq_ = rope_inv_freq(s, device_);
}

at::Tensor CausalLMImpl::hidden_states(const at::Tensor& input_ids, const ForwardOptions& options) {
  const ModelSpec& s = spec_;
  const std::int64_t T = input_ids.size(1);
  at::Tensor x = at::embedding(embed_->weight, input_ids);  // (B, T, E)
  if (project_in_) x = project_in_->forward(x);             // (B, T, C)

  KvCache* cache = options.kv_cache;
  if (cache) {
    if (options.attention_mask.defined()) {
      throw std::invalid_argument("CausalLM: a KV cache with an attention mask (padded batch) is not supported");
    }
    if (options.decode_position.defined()) {
      if (T != 1 || options.attend_len <= 0 || options.attend_len > cache->capacity) {
        throw std::invalid_argument("CausalLM: static decoding takes one token per row and 0 < attend_len <= capacity");
      }
    } else if (cache->length + T > cache->capacity) {
      throw std::invalid_argument("CausalLM: the KV cache holds " + std::to_string(cache->capacity) + " tokens");
    }
    cache->layers.resize(static_cast<size_t>(s.num_layers));
    for (KvLayer& layer : cache->layers) layer.capacity = cache->capacity;
  }
  const bool static_decode = cache && options.decode_position.defined();
  at::Tensor positions = options.position_ids;
  if (!positions.defined() && static_decode) positions = options.decode_position.view({1, 1});
  if (!positions.defined() && cache) {
    positions = at::arange(cache->length, cache->length + T, input_ids.options().dtype(at::kLong)).unsqueeze(0);
  }
  if (!positions.defined()) {
    if (s.positions_from_mask && options.attention_mask.defined()) {
      const at::Tensor mask = options.attention_mask.to(at::kLong);
      positions = at::cumsum(mask, 1) * mask - 1;  // real tokens count 0, 1, 2, ...; padding -1
    } else {
      positions = at::arange(T, input_ids.options().dtype(at::kLong)).unsqueeze(0);
    }
  }
  RopeTables rope;
  if (s.positions == Positions::kLearned) {
    x = x + at::embedding(pos_embed_->weight, positions + s.position_offset);
  } else {
    rope = rope_tables(inv_freq_, positions, s.rope.compute_in_fp32 ? at::kFloat : dtype_);
  }
  const RopeTables* rope_ptr = s.positions == Positions::kRope ? &rope : nullptr;

  AttentionMasks masks;
  masks.seq_len = T;
  if (options.attention_mask.defined()) masks.key_padding = options.attention_mask.to(at::kBool);
  if (static_decode) {
    masks.decode_position = options.decode_position;
    masks.attend_len = options.attend_len;
  }

  const bool recompute = !cache && grad_checkpointing_ && at::GradMode::is_enabled() && x.requires_grad();
  // Each pre-norm layer's last residual add is deferred into the next norm, so that the pair runs
  // as one kernel where it can: the layer output is x + pending. Outside autograd (the teacher,
  // evaluation, generation) always; in training where the fused add + norm records itself for
  // autograd (CUDA, the kernels and DISTILL_FUSED_ADD_NORM(_TRAIN) on), not with a KV cache, whole
  // layers recomputed or streamed: elsewhere (the CPU) the plain loop, as before. The observer sees
  // whole layers, so it keeps the plain loop.
  const bool train_deferred = !cache && !grad_checkpointing_ && !streamer_ && x.is_cuda() && fused_kernels_enabled() &&
                              fused::add_rms_norm_on() && fused::add_rms_norm_train_on();
  const bool deferred = s.pre_norm && !observer_ && (!at::GradMode::is_enabled() || train_deferred);
  at::Tensor pending;
  for (size_t i = 0; i < layers_->size(); ++i) {
    auto* layer = (*layers_)[i]->as<DecoderLayerImpl>();
    const at::Tensor input = x;
    if (streamer_) streamer_->before_layer(static_cast<std::int64_t>(i));
    KvLayer* kv = cache ? &cache->layers[i] : nullptr;
    const std::int64_t kv_len = cache ? cache->length : 0;
    if (deferred) {
      at::Tensor xn;
      if (pending.defined()) {
        std::tie(x, xn) = add_then_norm(layer->attn_norm(), x, pending, /*for_product=*/true);
      } else {
        xn = norm_for_product(layer->attn_norm(), x);
      }
      std::tie(x, pending) = layer->forward_deferred(x, xn, rope_ptr, masks, kv, kv_len);
    } else if (cache) {
      x = layer->forward(x, rope_ptr, masks, kv, kv_len);
    } else {
      x = recompute ? layer->forward_checkpointed(x, rope_ptr, masks) : layer->forward(x, rope_ptr, masks);
    }
    if (streamer_) streamer_->after_layer(static_cast<std::int64_t>(i));
    if (observer_) observer_->layer_io(static_cast<std::int64_t>(i), input, x);
  }
  if (cache && !static_decode) cache->length += T;
  if (pending.defined() && final_norm_) {
    x = add_then_norm(final_norm_, x, pending).second;
  } else if (pending.defined()) {
    x = x + pending;
  } else if (final_norm_) {
    x = final_norm_->forward(x);
  }
  if (project_out_) x = project_out_->forward(x);
  return x;
}

void CausalLMImpl::set_observer(ActivationObserver* observer) {
  observer_ = observer;
  for (size_t i = 0; i < layers_->size(); ++i) (*layers_)[i]->as<DecoderLayerImpl>()->set_observer(observer);
}

void CausalLMImpl::set_layer_streamer(std::shared_ptr<LayerStreamer> streamer, const at::Device& device) {
  streamer_ = std::move(streamer);
  device_ = device;
  if (inv_freq_.defined()) inv_freq_ = inv_freq_.to(device);
}

const at::Tensor& CausalLMImpl::lm_head_weight() const { return lm_head_ ? lm_head_->weight : embed_->weight; }

at::Tensor CausalLMImpl::logits(const at::Tensor& hidden) const {
  return linear_tuned_or_aten(hidden, lm_head_weight(), {});
}

at::Tensor CausalLMImpl::forward(const at::Tensor& input_ids, const ForwardOptions& options) {
  return logits(hidden_states(input_ids, options));
}

}  // namespace distill::models
