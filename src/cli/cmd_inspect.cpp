// `distill inspect PATH`: summary of an HF model folder, or the tensor list of a safetensors file.
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "distill/cli/commands.h"
#include "distill/io/safetensors.h"
#include "distill/util/errors.h"
#include "distill/util/files.h"

namespace distill::cli {
namespace {

struct InspectOptions {
  std::string path;
  bool json = false;
};

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << "]";
  return s.str();
}

std::string with_commas(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

nlohmann::json read_model_config(const std::string& dir) {
  const std::string path = files::join(dir, "config.json");
  std::ifstream f(path);
  if (!f) throw InputError(path, "missing config.json", "a Hugging Face model folder holds config.json and *.safetensors");
  try {
    nlohmann::json j = nlohmann::json::parse(f);
    if (!j.is_object()) throw InputError(path, "config.json is not a JSON object");
    return j;
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(path, std::string("invalid JSON: ") + e.what());
  }
}

// First present key among `keys` (HF families spell the same thing differently).
nlohmann::json first_of(const nlohmann::json& cfg, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    if (cfg.contains(k) && !cfg[k].is_null()) return cfg[k];
  }
  return nullptr;
}

int inspect_file(const std::string& path, bool as_json) {
  auto file = io::SafetensorsFile::open(path);
  const auto& header = file->header();
  if (as_json) {
    nlohmann::json out;
    out["path"] = path;
    out["metadata"] = header.metadata;
    out["tensors"] = nlohmann::json::array();
    for (const auto& t : header.tensors) {
      out["tensors"].push_back({{"name", t.name}, {"dtype", io::dtype_name(t.dtype)}, {"shape", t.shape}});
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  size_t width = 4;
  for (const auto& t : header.tensors) width = std::max(width, t.name.size());
  std::cout << path << ": " << header.tensors.size() << " tensors\n";
  for (const auto& [k, v] : header.metadata) std::cout << "metadata " << k << " = " << v << "\n";
  std::cout << std::left << std::setw(static_cast<int>(width)) << "name" << "  " << std::setw(5) << "dtype"
            << "  shape\n";
  for (const auto& t : header.tensors) {
    std::cout << std::left << std::setw(static_cast<int>(width)) << t.name << "  " << std::setw(5)
              << io::dtype_name(t.dtype) << "  " << shape_text(t.shape) << "\n";
  }
  return 0;
}

int inspect_model(const std::string& dir, bool as_json) {
  const nlohmann::json cfg = read_model_config(dir);
  const io::Checkpoint ckpt = io::Checkpoint::open(dir);
  std::uint64_t params = 0, bytes = 0;
  std::map<std::string, std::uint64_t> dtype_counts;
  for (const auto& name : ckpt.names()) {
    const auto& info = ckpt.info(name);
    params += info.numel();
    bytes += info.nbytes();
    dtype_counts[io::dtype_name(info.dtype)] += 1;
  }
  std::string arch = "unknown";
  if (cfg.contains("architectures") && cfg["architectures"].is_array() && !cfg["architectures"].empty() &&
      cfg["architectures"][0].is_string()) {
    arch = cfg["architectures"][0].get<std::string>();
  }
  const nlohmann::json model_type = first_of(cfg, {"model_type"});
  const nlohmann::json vocab = first_of(cfg, {"vocab_size", "padded_vocab_size"});
  const nlohmann::json context = first_of(cfg, {"max_position_embeddings", "n_positions", "seq_length", "n_ctx"});
  if (as_json) {
    nlohmann::json out = {{"path", dir},       {"architecture", arch}, {"model_type", model_type},
                          {"parameters", params}, {"bytes", bytes},     {"tensors", ckpt.names().size()},
                          {"files", ckpt.files().size()}, {"dtypes", dtype_counts},
                          {"vocab_size", vocab}, {"context_length", context}};
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << "model:          " << dir << "\n";
  std::cout << "architecture:   " << arch;
  if (model_type.is_string()) std::cout << " (model_type " << model_type.get<std::string>() << ")";
  std::cout << "\n";
  std::cout << "parameters:     " << with_commas(params) << "\n";
  std::cout << "weights:        " << ckpt.names().size() << " tensors in " << ckpt.files().size() << " file"
            << (ckpt.files().size() == 1 ? "" : "s") << ", " << with_commas(bytes) << " bytes\n";
  std::cout << "dtypes:        ";
  for (const auto& [name, count] : dtype_counts) std::cout << " " << name << " (" << count << ")";
  std::cout << "\n";
  std::cout << "vocab size:     " << (vocab.is_null() ? std::string("unknown") : vocab.dump()) << "\n";
  std::cout << "context length: " << (context.is_null() ? std::string("unknown") : context.dump()) << "\n";
  return 0;
}

}  // namespace

Command add_inspect(CLI::App& root) {
  auto opts = std::make_shared<InspectOptions>();
  CLI::App* sub = root.add_subcommand("inspect", "summarise a model folder or list a safetensors file's tensors");
  sub->add_option("path", opts->path, "HF model folder, .safetensors file or *.safetensors.index.json")->required();
  sub->add_flag("--json", opts->json, "print JSON instead of a table");
  Command cmd;
  cmd.app = sub;
  cmd.run = [opts]() -> int {
    if (!files::exists(opts->path)) {
      throw InputError(opts->path, "no such file or directory");
    }
    if (files::is_directory(opts->path)) return inspect_model(opts->path, opts->json);
    const std::string& p = opts->path;
    if (p.size() >= 11 && p.compare(p.size() - 11, 11, ".index.json") == 0) {
      // A shard index: summarise the checkpoint it lists.
      const io::Checkpoint ckpt = io::Checkpoint::open(p);
      std::cout << p << ": " << ckpt.names().size() << " tensors in " << ckpt.files().size() << " shards\n";
      for (const auto& name : ckpt.names()) {
        const auto& info = ckpt.info(name);
        std::cout << name << "  " << io::dtype_name(info.dtype) << "  " << shape_text(info.shape) << "\n";
      }
      return 0;
    }
    return inspect_file(p, opts->json);
  };
  return cmd;
}

}  // namespace distill::cli
