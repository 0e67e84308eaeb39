// Building blocks of the decoder: parameter holders named like their tensors, norms, RoPE, attention.
#pragma once

#include <torch/nn/module.h>

#include <cstdint>
#include <map>

#include "distill/models/spec.h"

namespace distill::models {

// A weight and optional bias, uninitialised until loaded (so a 7B model costs one allocation, no init).
class ProjImpl : public torch::nn::Module {
 public:
  ProjImpl(std::int64_t out, std::int64_t in, bool bias, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;  // (..., in) -> (..., out)
  at::Tensor weight;                               // (out, in)
  at::Tensor bias;                                 // (out) or undefined
};
TORCH_MODULE(Proj);

class NormImpl : public torch::nn::Module {
 public:
  NormImpl(NormKind kind, std::int64_t dim, double eps, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x) const;  // (..., dim), same dtype out
  NormKind kind;
  double eps;
  at::Tensor weight;  // (dim)
  at::Tensor bias;    // (dim), LayerNorm only
};
TORCH_MODULE(Norm);

// RMSNorm as transformers computes it: normalise in fp32, cast back, then scale by the weight.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// Rotary embedding tables for a batch: cos and sin, each (B or 1, T, D).
struct RopeTables {
  at::Tensor cos;
  at::Tensor sin;
};
// inv_freq (D/2, fp32) for the spec's RoPE settings, computed as transformers does.
at::Tensor rope_inv_freq(const ModelSpec& spec, const at::Device& device);
// positions: (B, T) or (T) int64. Tables are in `dtype` unless the spec rotates in fp32.
RopeTables rope_tables(const at::Tensor& inv_freq, const at::Tensor& positions, at::ScalarType dtype);
// x: (B, heads, T, D) -> rotated, same dtype as x.
// store_to: see fused::rope (a consumer that casts the result to x's type anyway may pass that type).
at::Tensor apply_rope(const at::Tensor& x, const RopeTables& tables, bool in_fp32,
                      at::ScalarType store_to = at::ScalarType::Undefined);

// Masks shared by every layer of one forward pass.
struct AttentionMasks {
  at::Tensor key_padding;  // (B, T) bool, true = real token; undefined = no padding
  std::int64_t seq_len = 0;
  // Additive (B or 1, 1, T, T) masks by sliding window (0 = none), built on first use.
  std::map<std::int64_t, at::Tensor> additive;
  // Static-shape decoding (ForwardOptions::decode_position): the one query's position, an int64
  // device tensor of shape (1), and how many cache slots every layer attends over.
  at::Tensor decode_position;
  std::int64_t attend_len = 0;
};

// Causal attention. q: (B, H, T, D); k, v: (B, KV, T, D). Returns (B, H, T, D).
// `scale` multiplies q.k; `window` > 0 limits each query to the `window` most recent keys.
at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                            std::int64_t window, AttentionMasks& masks);

// The same for queries that follow `q_offset` earlier tokens: q (B, H, Tq, D) holds positions
// q_offset .. q_offset + Tq - 1, k and v (B, KV, q_offset + Tq, D) every position so far.
at::Tensor offset_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                                   std::int64_t window, std::int64_t q_offset);

// One new token per row at the position in masks.decode_position, attending over all
// masks.attend_len keys of k and v (B, KV, attend_len, D) through a mask computed on the device
// (slots after the position, or before a sliding window, are masked). No shape depends on the
// position, so the call can be captured in a CUDA graph and replayed at any position.
at::Tensor static_decode_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                                   std::int64_t window, AttentionMasks& masks);

at::Tensor activate(const at::Tensor& x, Activation act);
// activate(gate) * up: a gated MLP's elementwise step (SiLU fused on CUDA).
at::Tensor gated_activation(const at::Tensor& gate, const at::Tensor& up, Activation act);

// The fused CUDA kernels for RMSNorm, SiLU(gate) * up and RoPE (src/models/fused_kernels.cu) run
// wherever they apply in CUDA builds; DISTILL_FUSED_KERNELS=0 in the environment, or
// set_fused_kernels(false), keeps the unfused ATen ops, which are the reference they are tested against.
void set_fused_kernels(bool on);
bool fused_kernels_enabled();

}  // namespace distill::models
