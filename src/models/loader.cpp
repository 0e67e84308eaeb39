// Strict loading of HF weights through the family's name map, and export back to HF names.
#include "distill/models/loader.h"

#include "distill/models/init.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/torch.h>

#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "distill/io/atomic_file.h"
#include "distill/models/registry.h"
#include "distill/util/errors.h"
#include "distill/util/files.h"
#include "distill/util/logging.h"

namespace distill::models {
namespace {

std::string shape_text(at::IntArrayRef shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << "]";
  return s.str();
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string list_some(const std::vector<std::string>& names, size_t limit = 5) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < limit; ++i) out += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > limit) out += " and " + std::to_string(names.size() - limit) + " more";
  return out;
}

}  // namespace

at::ScalarType parse_dtype(const std::string& name, const std::string& what) {
  if (name == "fp32" || name == "float32") return at::kFloat;
  if (name == "bf16" || name == "bfloat16") return at::kBFloat16;
  if (name == "fp16" || name == "float16") return at::kHalf;
  throw UsageError(what + ": unknown dtype '" + name + "'", "use fp32, bf16 or fp16");
}

at::ScalarType config_dtype(const nlohmann::json& config) {
  for (const char* key : {"dtype", "torch_dtype"}) {
    if (config.contains(key) && config[key].is_string()) {
      const std::string d = config[key].get<std::string>();
      if (d == "bfloat16") return at::kBFloat16;
      if (d == "float16") return at::kHalf;
      if (d == "float32") return at::kFloat;
    }
  }
  return at::kFloat;
}

at::ScalarType parse_dtype_for(const std::string& name, const at::Device& device, const std::string& what) {
  if (name == "auto") return device.is_cuda() ? at::kBFloat16 : at::kFloat;
  return parse_dtype(name, what);
}

std::string dtype_label(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return "fp32";
    case at::kBFloat16: return "bf16";
    case at::kHalf: return "fp16";
    default: return c10::toString(dtype);
  }
}

namespace {

// Where a tensor comes from, for error messages.
using Locator = std::function<std::string(const std::string& name)>;

void load_weights_from(CausalLMImpl& model, const std::map<std::string, at::Tensor>& tensors,
                       const Locator& where, const std::string& source) {
  const ModelSpec& spec = model.spec();
  const Family& family = family_of(spec);
  auto params = model.named_parameters(/*recurse=*/true);
  auto contains = [&tensors](const std::string& n) { return tensors.count(n) != 0; };
  auto resolve = [&](const std::string& hf) -> std::string {
    if (contains(hf)) return hf;
    if (!spec.base_prefix.empty() && hf.rfind(spec.base_prefix, 0) == 0) {
      const std::string bare = hf.substr(spec.base_prefix.size());
      if (contains(bare)) return bare;
    }
    return {};
  };
  std::set<std::string> used;
  std::vector<std::string> missing;
  at::NoGradGuard no_grad;
  for (const WeightRule& rule : weight_rules(spec)) {
    at::Tensor* dst = params.find(rule.name);
    if (!dst) throw Error(ExitCode::kInternal, "weight map names unknown parameter '" + rule.name + "'");
    std::int64_t row = 0;
    for (size_t j = 0; j < rule.hf_names.size(); ++j) {
      const std::int64_t rows = rule.rows.empty() ? dst->size(0) : rule.rows[j];
      const std::string name = resolve(rule.hf_names[j]);
      if (name.empty()) {
        missing.push_back(rule.hf_names[j]);
        row += rows;
        continue;
      }
      used.insert(name);
      at::Tensor src = tensors.at(name);
      std::vector<std::int64_t> expected(dst->sizes().begin(), dst->sizes().end());
      expected[0] = rows;
      if (rule.transform == Transform::kTranspose) std::reverse(expected.begin(), expected.end());
      const std::vector<std::int64_t> got(src.sizes().begin(), src.sizes().end());
      if (got != expected) {
        throw InputError(where(name), "tensor '" + name + "' has wrong shape; expected " + shape_text(expected) +
                                          ", got " + shape_text(got),
                         "config.json and the weights disagree: check that they come from the same model");
      }
      if (!at::isFloatingType(src.scalar_type())) {
        throw InputError(where(name), "tensor '" + name + "' has dtype " +
                                          io::dtype_name(io::to_dtype(src.scalar_type())) +
                                          "; weights must be F32, BF16, F16 or F64");
      }
      if (rule.transform == Transform::kTranspose) src = src.t();
      dst->narrow(0, row, rows).copy_(src);
      row += rows;
    }
  }
  if (!missing.empty()) {
    throw InputError(source, std::to_string(missing.size()) + " tensor(s) missing from the checkpoint: " +
                                 list_some(missing),
                     "config.json (" + spec.architecture + ") expects them; is the checkpoint complete?");
  }
  std::vector<std::string> leftovers;
  for (const auto& [name, tensor] : tensors) {
    if (used.count(name)) continue;
    bool ignored = spec.tie_word_embeddings && name == "lm_head.weight";  // tied: the embedding is the head
    for (const auto& suffix : family.ignored_suffixes) ignored = ignored || ends_with(name, suffix);
    if (!ignored) leftovers.push_back(name);
  }
  if (!leftovers.empty()) {
    throw InputError(source, std::to_string(leftovers.size()) + " tensor(s) that config.json does not account for: " +
                                 list_some(leftovers),
                     "config.json and the weights disagree (layer count, tied embeddings, biases?)");
  }
}

}  // namespace

void load_weights(CausalLMImpl& model, const io::Checkpoint& ckpt) {
  std::map<std::string, at::Tensor> tensors;
  for (const std::string& name : ckpt.names()) tensors.emplace(name, ckpt.tensor(name));  // zero-copy views
  load_weights_from(model, tensors, [&ckpt](const std::string& n) { return ckpt.file_of(n); },
                    ckpt.files().front()->path());
}

void load_weights(CausalLMImpl& model, const io::NamedTensors& named, const std::string& source) {
  std::map<std::string, at::Tensor> tensors;
  for (const auto& [name, tensor] : named) tensors.emplace(name, tensor);
  load_weights_from(model, tensors, [&source](const std::string&) { return source; }, source);
}

CausalLM load_model(const std::string& dir, const LoadOptions& options) {
  ModelSpec spec = read_spec(dir);
  const io::Checkpoint ckpt = io::Checkpoint::open(dir);
  log::debug("loading {} ({}) from {} as {} on {}", spec.architecture, spec.family, dir, dtype_label(options.dtype),
             options.device.str());
  CausalLM model(std::move(spec), at::TensorOptions().dtype(options.dtype).device(options.device));
  load_weights(*model, ckpt);
  for (auto& p : model->parameters()) p.set_requires_grad(options.trainable);
  return model;
}

CausalLM init_model(const std::string& dir, const LoadOptions& options, std::uint64_t seed) {
  ModelSpec spec = read_spec(dir);
  log::debug("building {} ({}) from {} with random weights as {} on {}", spec.architecture, spec.family, dir,
             dtype_label(options.dtype), options.device.str());
  CausalLM model(std::move(spec), at::TensorOptions().dtype(options.dtype).device(options.device));
  init_random(*model, seed);
  for (auto& p : model->parameters()) p.set_requires_grad(options.trainable);
  return model;
}

io::NamedTensors export_tensors(CausalLMImpl& model) {
  auto params = model.named_parameters(/*recurse=*/true);
  io::NamedTensors out;
  for (const WeightRule& rule : weight_rules(model.spec())) {
    const at::Tensor* src = params.find(rule.name);
    if (!src) throw Error(ExitCode::kInternal, "weight map names unknown parameter '" + rule.name + "'");
    const at::Tensor value = src->detach().to(at::kCPU);
    std::int64_t row = 0;
    for (size_t j = 0; j < rule.hf_names.size(); ++j) {
      const std::int64_t rows = rule.rows.empty() ? value.size(0) : rule.rows[j];
      at::Tensor part = value.narrow(0, row, rows);
      if (rule.transform == Transform::kTranspose) part = part.t();
      out.emplace_back(rule.hf_names[j], part.contiguous());
      row += rows;
    }
  }
  return out;
}

void save_model(CausalLMImpl& model, const std::string& dir, const SaveModelOptions& options) {
  files::create_directories(dir);
  nlohmann::json config = model.spec().hf_config;
  const std::string hf_dtype = model.dtype() == at::kBFloat16 ? "bfloat16"
                               : model.dtype() == at::kHalf   ? "float16"
                                                              : "float32";
  if (config.contains("dtype")) config["dtype"] = hf_dtype;
  else config["torch_dtype"] = hf_dtype;
  if (!config.contains("architectures")) config["architectures"] = {model.spec().architecture};
  io::SaveOptions save;
  save.max_shard_bytes = options.max_shard_bytes;
  save.metadata = {{"format", "pt"}};
  io::save_checkpoint(dir, export_tensors(model), save);
  io::write_file_atomic(files::join(dir, "config.json"), config.dump(2) + "\n");
}

}  // namespace distill::models
