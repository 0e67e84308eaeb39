// Loading HF model folders into CausalLM (strict: every tensor, shape and dtype checked) and saving back.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "distill/io/safetensors.h"
#include "distill/models/causal_lm.h"

namespace distill::models {

struct LoadOptions {
  at::ScalarType dtype = at::kFloat;  // parameters are converted to this dtype
  at::Device device = at::kCPU;       // and placed here directly, tensor by tensor
  bool trainable = false;             // requires_grad on the parameters (students)
};

// Reads <dir>/config.json and the safetensors weights (single file or sharded) into a new model.
// Errors (exit 3) name the file and tensor: missing tensor, wrong shape, non-float dtype, tensors the
// config does not account for, unknown architecture.
CausalLM load_model(const std::string& dir, const LoadOptions& options = {});

// Builds the model <dir>/config.json describes, without reading any weights, and initialises it
// randomly (models/init.h) from `seed`: a student trained from scratch.
CausalLM init_model(const std::string& dir, const LoadOptions& options, std::uint64_t seed);

// Fills an existing model's parameters from a checkpoint (same checks as load_model). Names with or
// without the base-model prefix are accepted (older GPT-2/OPT files store "h.0..." / "decoder....").
void load_weights(CausalLMImpl& model, const io::Checkpoint& checkpoint);
// The same from tensors in HF layout (a training checkpoint); `source` names them in errors.
void load_weights(CausalLMImpl& model, const io::NamedTensors& tensors, const std::string& source);

// The model's weights under their HF names and layouts (fused tensors split, GPT-2 Conv1D transposed
// back), in the model's dtype, on the CPU.
io::NamedTensors export_tensors(CausalLMImpl& model);

struct SaveModelOptions {
  std::uint64_t max_shard_bytes = 5ull << 30;  // shard above 5 GiB, as transformers does by default
};

// Writes config.json and model.safetensors (or shards + index) into `dir`, which HF transformers
// loads unchanged. Each file is written atomically.
void save_model(CausalLMImpl& model, const std::string& dir, const SaveModelOptions& options = {});

// The dtype config.json records ("dtype", or transformers 4's "torch_dtype"); fp32 when absent or unknown.
at::ScalarType config_dtype(const nlohmann::json& hf_config);

// "fp32" | "bf16" | "fp16" (also "float32", "bfloat16", "float16") -> dtype; UsageError otherwise.
at::ScalarType parse_dtype(const std::string& name, const std::string& what);
std::string dtype_label(at::ScalarType dtype);  // "fp32", "bf16", "fp16"
// parse_dtype, plus "auto": bf16 on a CUDA device, fp32 on the CPU (inference commands' default).
at::ScalarType parse_dtype_for(const std::string& name, const at::Device& device, const std::string& what);

}  // namespace distill::models
