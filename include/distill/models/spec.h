// ModelSpec: one decoder-only transformer described by options; each family translates config.json into it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace distill::models {

enum class NormKind { kRMSNorm, kLayerNorm };
enum class Activation { kSiLU, kReLU, kGeluTanh, kGelu };
enum class Positions { kRope, kLearned };
enum class RopeScaling { kNone, kLinear, kLlama3 };

struct RopeSpec {
  double theta = 10000.0;
  RopeScaling scaling = RopeScaling::kNone;
  double factor = 1.0;                 // linear and llama3
  double low_freq_factor = 1.0;        // llama3
  double high_freq_factor = 4.0;       // llama3
  std::int64_t original_max_positions = 8192;  // llama3
  bool compute_in_fp32 = false;        // rotate q/k in fp32 and cast back (original Qwen); else in the model dtype
};

struct ModelSpec {
  std::string family;                  // registry key: "llama", "mistral", "qwen2", "qwen3", "opt", "gpt2", "qwen"
  std::string architecture;            // config.json architectures[0], written back on export
  std::string base_prefix;             // HF base-model prefix ("model.", "transformer."); used for name fallback

  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;        // C: width of the residual stream
  std::int64_t embed_dim = 0;          // width of token embeddings; != hidden_size only for OPT's project_in/out
  std::int64_t intermediate_size = 0;  // I: MLP width (per branch for gated MLPs)
  std::int64_t num_layers = 0;
  std::int64_t num_heads = 0;          // H
  std::int64_t num_kv_heads = 0;       // KV (GQA when < H)
  std::int64_t head_dim = 0;           // D (Qwen3 decouples it from C / H)
  std::int64_t max_positions = 0;      // context length (learned-position table size for OPT/GPT-2)

  NormKind norm = NormKind::kRMSNorm;
  double norm_eps = 1e-6;
  bool pre_norm = true;                // false: OPT-350m style post-LayerNorm
  bool final_norm = true;              // a norm after the last layer
  Activation activation = Activation::kSiLU;
  bool gated_mlp = true;               // act(gate(x)) * up(x) -> down; else act(fc1(x)) -> fc2
  bool qkv_bias = false;
  bool o_bias = false;
  bool mlp_bias = false;
  bool qk_norm = false;                // Qwen3: RMSNorm over D on q and k before RoPE

  Positions positions = Positions::kRope;
  std::int64_t position_offset = 0;    // OPT's learned positions start at index 2
  bool positions_from_mask = false;    // OPT: positions count real tokens (cumsum of the attention mask)
  RopeSpec rope;

  // Sliding-window attention per layer (0 = full attention): Mistral, Qwen2 with use_sliding_window.
  std::vector<std::int64_t> sliding_window;
  // Extra attention-score divisor per layer (GPT-2 scale_attn_by_inverse_layer_idx: layer + 1); empty = none.
  std::vector<double> attn_score_divisor;
  bool tie_word_embeddings = false;

  nlohmann::json hf_config;            // config.json as read (written back on save)

  std::int64_t q_size() const { return num_heads * head_dim; }
  std::int64_t kv_size() const { return num_kv_heads * head_dim; }
};

// How a tensor in the HF checkpoint becomes (part of) one of our parameters.
enum class Transform { kCopy, kTranspose };

// One of our parameters, built from one or more HF tensors concatenated along dim 0 (after
// `transform`). Fusions (q|k|v, gate|up) happen here, once at load; export splits them back.
struct WeightRule {
  WeightRule(std::string name_, std::vector<std::string> hf_names_, std::vector<std::int64_t> rows_ = {},
             Transform transform_ = Transform::kCopy)
      : name(std::move(name_)), hf_names(std::move(hf_names_)), rows(std::move(rows_)), transform(transform_) {}
  std::string name;                    // our parameter name, e.g. "layers.3.attn.qkv.weight"
  std::vector<std::string> hf_names;   // HF tensor names, in concatenation order
  std::vector<std::int64_t> rows;      // rows (dim 0) each HF tensor fills; empty for a single source
  Transform transform = Transform::kCopy;  // kTranspose: HF stores [in, out] (GPT-2 Conv1D)
};

}  // namespace distill::models
