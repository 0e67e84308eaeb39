// Checkpoint: one safetensors file, or the shards listed by model.safetensors.index.json.
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "distill/io/safetensors.h"
#include "distill/util/errors.h"

namespace distill::io {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

// A JSON-quoted, escaped string: safe to put any name from a file into a one-line message.
std::string quoted(const std::string& text) { return json(text).dump(-1, ' ', false, json::error_handler_t::replace); }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct Index {
  std::map<std::string, std::string> weight_map;  // tensor -> shard file name
  std::map<std::string, std::string> metadata;
};

Index read_index(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "cannot open: " + errno_text(errno));
  std::ostringstream text;
  text << in.rdbuf();
  json root;
  try {
    root = json::parse(text.str());
  } catch (const json::exception& e) {
    throw InputError(path, std::string("invalid JSON: ") + e.what());
  }
  if (!root.is_object()) throw InputError(path, std::string("index is a JSON ") + root.type_name() + ", expected an object");
  Index index;
  const auto wm = root.find("weight_map");
  if (wm == root.end() || !wm->is_object()) {
    throw InputError(path, "index has no \"weight_map\" object (tensor name -> shard file)");
  }
  for (const auto& [name, shard] : wm->items()) {
    if (!shard.is_string()) {
      throw InputError(path, "weight_map entry " + quoted(name) + " is a " + shard.type_name() + ", expected a file name");
    }
    const std::string file = shard.get<std::string>();
    const fs::path p(file);
    bool escapes = file.empty() || p.is_absolute();
    for (const auto& part : p) escapes = escapes || part == "..";
    if (escapes) {
      throw InputError(path, "weight_map maps " + quoted(name) + " to " + quoted(file) +
                                 "; shard names must be relative paths inside the index's folder");
    }
    index.weight_map[name] = file;
  }
  const auto meta = root.find("metadata");
  if (meta != root.end() && !meta->is_null()) {
    if (!meta->is_object()) throw InputError(path, std::string("index \"metadata\" is a ") + meta->type_name() + ", expected an object");
    for (const auto& [key, value] : meta->items()) {
      index.metadata[key] = value.is_string() ? value.get<std::string>() : value.dump(-1, ' ', false, json::error_handler_t::replace);
    }
  }
  return index;
}

}  // namespace

Checkpoint Checkpoint::open(const std::string& path) {
  Checkpoint ckpt;
  std::string source = path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path dir(path);
    if (fs::exists(dir / kSingleFile, ec)) {
      source = (dir / kSingleFile).string();
    } else if (fs::exists(dir / kIndexFile, ec)) {
      source = (dir / kIndexFile).string();
    } else {
      throw InputError(path, std::string("holds neither ") + kSingleFile + " nor " + kIndexFile);
    }
  }
  ckpt.path_ = source;

  auto add_file = [&ckpt](std::shared_ptr<SafetensorsFile> file) {
    const std::size_t file_index = ckpt.files_.size();
    for (const TensorInfo& t : file->header().tensors) {
      ckpt.names_.push_back(t.name);
      ckpt.where_[t.name] = {file_index, &t};
    }
    ckpt.files_.push_back(std::move(file));
  };

  if (!ends_with(source, ".index.json")) {
    auto file = SafetensorsFile::open(source);
    ckpt.metadata_ = file->metadata();
    add_file(std::move(file));
    return ckpt;
  }

  const Index index = read_index(source);
  ckpt.metadata_ = index.metadata;
  std::set<std::string> shards;  // sorted: model-00001-of-... first
  for (const auto& [name, shard] : index.weight_map) shards.insert(shard);
  const fs::path dir = fs::path(source).parent_path();
  for (const std::string& shard : shards) {
    const std::string shard_path = (dir / shard).string();
    if (!fs::exists(shard_path, ec)) {
      throw InputError(source, "weight_map lists shard " + quoted(shard) + ", but " + shard_path + " does not exist");
    }
    auto file = SafetensorsFile::open(shard_path);
    // The shard and the index must agree exactly: every tensor the index puts here is here, and
    // nothing here is claimed by another shard or missing from the index.
    for (const TensorInfo& t : file->header().tensors) {
      const auto it = index.weight_map.find(t.name);
      if (it == index.weight_map.end()) {
        throw InputError(source, "shard " + quoted(shard) + " holds tensor " + quoted(t.name) + ", which weight_map does not list");
      }
      if (it->second != shard) {
        throw InputError(source, "shard " + quoted(shard) + " holds tensor " + quoted(t.name) + ", which weight_map puts in " +
                                     quoted(it->second));
      }
    }
    for (const auto& [name, where] : index.weight_map) {
      if (where == shard && !file->find(name)) {
        throw InputError(source, "weight_map puts tensor " + quoted(name) + " in " + quoted(shard) + ", which has no such tensor");
      }
    }
    add_file(std::move(file));
  }
  return ckpt;
}

const TensorInfo& Checkpoint::info(const std::string& name) const {
  const auto it = where_.find(name);
  if (it == where_.end()) throw InputError(path_, "checkpoint has no tensor " + quoted(name));
  return *it->second.second;
}

at::Tensor Checkpoint::tensor(const std::string& name) const {
  const auto it = where_.find(name);
  if (it == where_.end()) throw InputError(path_, "checkpoint has no tensor " + quoted(name));
  return files_[it->second.first]->tensor(name);
}

const std::string& Checkpoint::file_of(const std::string& name) const {
  const auto it = where_.find(name);
  if (it == where_.end()) throw InputError(path_, "checkpoint has no tensor " + quoted(name));
  return files_[it->second.first]->path();
}

}  // namespace distill::io
