// Norms, rotary embeddings and causal attention, written to match transformers' arithmetic order.
#include "distill/models/layers.h"

#include <ATen/ATen.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <torch/version.h>

#include <cmath>
#include <limits>

#include "fused_ops.h"
#include "linear_ops.h"
#include "distill/util/tuned_gemm.h"

namespace distill::models {
namespace {

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
#define DISTILL_HAS_SDPA_GQA 1
#endif
#if TORCH_VERSION_MAJOR >= 2
#define DISTILL_HAS_SDPA 1
#endif
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define DISTILL_HAS_SDPA_CUDNN_SWITCH 1
#include <ATen/Context.h>
#endif

#ifdef DISTILL_HAS_SDPA_CUDNN_SWITCH
// Keeps SDPA off its cuDNN backend for one call (the setting is process-wide; restored on exit).
class NoCudnnAttention {
 public:
  explicit NoCudnnAttention(bool active) : active_(active && at::globalContext().userEnabledCuDNNSDP()) {
    if (active_) at::globalContext().setSDPUseCuDNN(false);
  }
  ~NoCudnnAttention() {
    if (active_) at::globalContext().setSDPUseCuDNN(true);
  }
  NoCudnnAttention(const NoCudnnAttention&) = delete;
  NoCudnnAttention& operator=(const NoCudnnAttention&) = delete;

 private:
  bool active_;
};
#endif

double lowest(at::ScalarType dtype) {
  switch (dtype) {
    case at::kBFloat16: return static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
    case at::kHalf: return static_cast<double>(std::numeric_limits<c10::Half>::lowest());
    case at::kDouble: return std::numeric_limits<double>::lowest();
    default: return static_cast<double>(std::numeric_limits<float>::lowest());
  }
}

// (B or 1, 1, T, T) additive mask: 0 where query i may attend key j, the dtype's lowest value elsewhere.
const at::Tensor& additive_mask(AttentionMasks& masks, std::int64_t window, const at::TensorOptions& options) {
  auto it = masks.additive.find(window);
  if (it != masks.additive.end()) return it->second;
  const std::int64_t T = masks.seq_len;
  const auto idx = at::arange(T, options.dtype(at::kLong));
  const auto i = idx.unsqueeze(1);
  const auto j = idx.unsqueeze(0);
  at::Tensor allowed = j.le(i);
  if (window > 0) allowed = allowed.logical_and(j.gt(i - window));
  allowed = allowed.view({1, 1, T, T});
  if (masks.key_padding.defined()) {
    allowed = allowed.logical_and(masks.key_padding.to(options.device()).to(at::kBool).view({-1, 1, 1, T}));
  }
  at::Tensor mask = at::zeros(allowed.sizes(), options);
  mask.masked_fill_(allowed.logical_not(), lowest(options.dtype().toScalarType()));
  return masks.additive.emplace(window, mask).first->second;
}

#ifndef DISTILL_HAS_SDPA
at::Tensor math_attention(const at::Tensor& q, at::Tensor k, at::Tensor v, double scale, const at::Tensor& mask) {
  const std::int64_t groups = q.size(1) / k.size(1);
  if (groups > 1) {
    k = k.repeat_interleave(groups, 1);
    v = v.repeat_interleave(groups, 1);
  }
  at::Tensor scores = at::matmul(q, k.transpose(-2, -1)) * scale;  // (B, H, Tq, Tk)
  if (mask.defined()) scores = scores + mask;
  const at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
  return at::matmul(probs, v);  // (B, H, T, D)
}
#endif

// q (B, H, Tq, D), k and v (B, KV, Tk, D): attention under an additive mask (undefined: none) or,
// with `is_causal` (SDPA builds only; needs no mask), the causal rule. Grouped query heads share
// their key/value head.
at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask, bool is_causal,
                  double scale) {
#ifdef DISTILL_HAS_SDPA
  // No mask must be an empty optional: SDPA rejects an undefined tensor.
  const c10::optional<at::Tensor> attn_mask = mask.defined() ? c10::optional<at::Tensor>(mask) : c10::nullopt;
#ifdef DISTILL_HAS_SDPA_GQA
  return at::scaled_dot_product_attention(q, k, v, attn_mask, 0.0, is_causal, scale, k.size(1) != q.size(1));
#else
  const std::int64_t groups = q.size(1) / k.size(1);
  const at::Tensor kk = groups > 1 ? k.repeat_interleave(groups, 1) : k;
  const at::Tensor vv = groups > 1 ? v.repeat_interleave(groups, 1) : v;
  return at::scaled_dot_product_attention(q, kk, vv, attn_mask, 0.0, is_causal, scale);
#endif
#else
  TORCH_CHECK(!is_causal, "attend: is_causal needs SDPA; pass the causal mask instead");
  return math_attention(q, k, v, scale, mask);
#endif
}

}  // namespace

ProjImpl::ProjImpl(std::int64_t out, std::int64_t in, bool with_bias, const at::TensorOptions& options) {
  weight = register_parameter("weight", at::empty({out, in}, options));
  if (with_bias) bias = register_parameter("bias", at::empty({out}, options));
}

at::Tensor ProjImpl::forward(const at::Tensor& x) const {
  if (at::Tensor y = fused::linear(x, weight, bias); y.defined()) return y;
  return linear_tuned_or_aten(x, weight, bias);
}

NormImpl::NormImpl(NormKind k, std::int64_t dim, double e, const at::TensorOptions& options) : kind(k), eps(e) {
  weight = register_parameter("weight", at::empty({dim}, options));
  if (kind == NormKind::kLayerNorm) bias = register_parameter("bias", at::empty({dim}, options));
}

at::Tensor NormImpl::forward(const at::Tensor& x) const {
  if (kind == NormKind::kRMSNorm) return rms_norm(x, weight, eps);
  return at::layer_norm(x, {weight.size(0)}, weight, bias, eps);
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  if (at::Tensor y = fused::rms_norm(x, weight, eps); y.defined()) return y;
  at::Tensor h = x.to(at::kFloat);
  const at::Tensor variance = h.pow(2).mean(-1, /*keepdim=*/true);
  h = h * at::rsqrt(variance + eps);
  return weight * h.to(x.scalar_type());
}

at::Tensor rope_inv_freq(const ModelSpec& spec, const at::Device& device) {
  const auto f32 = at::TensorOptions().dtype(at::kFloat).device(device);
  const double dim = static_cast<double>(spec.head_dim);
  const at::Tensor exponent = at::arange(0, spec.head_dim, 2, f32.dtype(at::kLong)).to(at::kFloat) / dim;
  at::Tensor inv_freq = at::reciprocal(at::pow(spec.rope.theta, exponent));  // (D/2)
  const RopeSpec& r = spec.rope;
  if (r.scaling == RopeScaling::kLinear) {
    inv_freq = inv_freq / r.factor;
  } else if (r.scaling == RopeScaling::kLlama3) {
    const double old_len = static_cast<double>(r.original_max_positions);
    const double low_wavelen = old_len / r.low_freq_factor;
    const double high_wavelen = old_len / r.high_freq_factor;
    const at::Tensor wavelen = at::reciprocal(inv_freq) * (2 * M_PI);
    at::Tensor scaled = at::where(wavelen > low_wavelen, inv_freq / r.factor, inv_freq);
    const at::Tensor smooth = (at::reciprocal(wavelen) * old_len - r.low_freq_factor) /
                              (r.high_freq_factor - r.low_freq_factor);
    const at::Tensor smoothed = (1 - smooth) * scaled / r.factor + smooth * scaled;
    const at::Tensor medium = (wavelen < high_wavelen).logical_not().logical_and((wavelen > low_wavelen).logical_not());
    inv_freq = at::where(medium, smoothed, scaled);
  }
  return inv_freq;
}

RopeTables rope_tables(const at::Tensor& inv_freq, const at::Tensor& positions, at::ScalarType dtype) {
  at::Tensor pos = positions.dim() == 1 ? positions.unsqueeze(0) : positions;           // (B, T)
  const at::Tensor freqs = pos.to(at::kFloat).unsqueeze(-1) * inv_freq.view({1, 1, -1});  // (B, T, D/2)
  const at::Tensor emb = at::cat({freqs, freqs}, -1);                                     // (B, T, D)
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

at::Tensor apply_rope(const at::Tensor& x, const RopeTables& t, bool in_fp32, at::ScalarType store_to) {
  if (at::Tensor y = fused::rope(x, t.cos, t.sin, in_fp32, store_to); y.defined()) return y;
  const at::Tensor cos = t.cos.unsqueeze(1);  // (B, 1, T, D)
  const at::Tensor sin = t.sin.unsqueeze(1);
  const at::Tensor h = in_fp32 ? x.to(at::kFloat) : x;
  const std::int64_t half = h.size(-1) / 2;
  const at::Tensor rotated = at::cat({h.narrow(-1, half, half).neg(), h.narrow(-1, 0, half)}, -1);
  const at::Tensor out = h * cos + rotated * sin;
  return in_fp32 ? out.to(x.scalar_type()) : out;
}

at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                            std::int64_t window, AttentionMasks& masks) {
  const std::int64_t T = q.size(2);
  if (window >= T) window = 0;  // a window longer than the sequence changes nothing
  const bool plain_causal = window == 0 && !masks.key_padding.defined();
#ifdef DISTILL_HAS_SDPA
  if (plain_causal) return attend(q, k, v, at::Tensor(), /*is_causal=*/true, scale);
#else
  (void)plain_causal;  // the math fallback always takes the mask
#endif
  return attend(q, k, v, additive_mask(masks, window, q.options()), /*is_causal=*/false, scale);
}

at::Tensor offset_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                                   std::int64_t window, std::int64_t q_offset) {
  const std::int64_t Tq = q.size(2), Tk = k.size(2);
  if (Tq == 1 && window > 0 && Tk > window) {
    // One new token sees only the last `window` keys: a narrower view instead of a mask.
    return offset_causal_attention(q, k.narrow(2, Tk - window, window), v.narrow(2, Tk - window, window), scale, 0,
                                   q_offset);
  }
#ifdef DISTILL_HAS_SDPA_CUDNN_SWITCH
  // cuDNN's SDPA builds an execution plan for every new key length: about 50 ms per decode step on
  // an H200 with torch 2.11, against 0.7 ms for all 28 layers' attention on the other backends
  // (scripts/bench/decode_attention_probe.py). A decode step grows the keys by one token every
  // time, so single-query steps leave cuDNN out; prefill shapes repeat and keep it.
  const NoCudnnAttention no_cudnn(Tq == 1 && q.is_cuda());
#endif
  // One new token sees every key (a window was narrowed above): no mask; otherwise causal (and window) limits apply.
  at::Tensor mask;
  if (Tq > 1) {
    const auto longs = q.options().dtype(at::kLong);
    const at::Tensor i = at::arange(q_offset, q_offset + Tq, longs).unsqueeze(1);
    const at::Tensor j = at::arange(Tk, longs).unsqueeze(0);
    at::Tensor allowed = j.le(i);
    if (window > 0) allowed = allowed.logical_and(j.gt(i - window));
    mask = at::zeros({1, 1, Tq, Tk}, q.options());
    mask.masked_fill_(allowed.logical_not().view({1, 1, Tq, Tk}), lowest(q.scalar_type()));
  }
  return attend(q, k, v, mask, /*is_causal=*/false, scale);
}

at::Tensor static_decode_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                                   std::int64_t window, AttentionMasks& masks) {
  const std::int64_t L = masks.attend_len;
  auto it = masks.additive.find(window);
  if (it == masks.additive.end()) {
    // Built from the position tensor with device ops only (no host read of the position).
    const at::Tensor j = at::arange(L, q.options().dtype(at::kLong));
    const at::Tensor pos = masks.decode_position.to(at::kLong);
    at::Tensor allowed = j.le(pos);
    if (window > 0) allowed = allowed.logical_and(j.gt(pos - window));
    at::Tensor mask = at::zeros({1, 1, 1, L}, q.options());
    mask.masked_fill_(allowed.logical_not().view({1, 1, 1, L}), lowest(q.scalar_type()));
    it = masks.additive.emplace(window, mask).first;
  }
#ifdef DISTILL_HAS_SDPA_CUDNN_SWITCH
  const NoCudnnAttention no_cudnn(q.is_cuda());  // see offset_causal_attention
#endif
  return attend(q, k, v, it->second, /*is_causal=*/false, scale);
}

at::Tensor activate(const at::Tensor& x, Activation act) {
  switch (act) {
    case Activation::kSiLU: return at::silu(x);
    case Activation::kReLU: return at::relu(x);
    case Activation::kGeluTanh: return at::gelu(x, "tanh");
    case Activation::kGelu: return at::gelu(x);
  }
  return x;
}

at::Tensor gated_activation(const at::Tensor& gate, const at::Tensor& up, Activation act) {
  if (act == Activation::kSiLU) {
    if (at::Tensor h = fused::silu_mul(gate, up); h.defined()) return h;
  }
  return activate(gate, act) * up;
}

}  // namespace distill::models
