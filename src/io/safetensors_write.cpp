// Writing safetensors: one file (save_file) or a sharded checkpoint with an HF-style index.
#include <ATen/core/Tensor.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "distill/io/atomic_file.h"
#include "distill/io/safetensors.h"
#include "distill/util/errors.h"

namespace distill::io {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

std::uint64_t nbytes_of(const at::Tensor& t) {
  return static_cast<std::uint64_t>(t.numel()) * static_cast<std::uint64_t>(t.element_size());
}

// "model-00002-of-00005.safetensors"
std::string shard_name(std::size_t i, std::size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i, n);
  return buf;
}

bool is_shard_name(const std::string& name) {
  auto digits = [&](std::size_t at) {
    return std::all_of(name.begin() + static_cast<long>(at), name.begin() + static_cast<long>(at + 5),
                       [](char c) { return c >= '0' && c <= '9'; });
  };
  return name.size() == 32 && name.compare(0, 6, "model-") == 0 && digits(6) && name.compare(11, 4, "-of-") == 0 &&
         digits(15) && name.compare(20, 12, ".safetensors") == 0;
}

// Removes files of an earlier save that the new one does not replace, so that the directory never
// holds two checkpoints (a stale model.safetensors would win over a new index when loading).
void remove_stale(const fs::path& dir, const std::set<std::string>& written) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const bool ours = name == kSingleFile || name == kIndexFile || is_shard_name(name);
    if (!ours || written.count(name)) continue;
    if (!fs::remove(entry.path(), ec) && ec) {
      throw OutputError(entry.path().string(), "cannot remove the stale file of an earlier save: " + ec.message());
    }
  }
}

}  // namespace

void save_file(const std::string& path, const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") throw OutputError(path, "'__metadata__' cannot be a tensor name");
    if (!seen.insert(name).second) throw OutputError(path, "tensor name '" + name + "' appears twice");
    if (!t.defined()) throw OutputError(path, "tensor '" + name + "' is undefined");
    to_dtype(t.scalar_type());  // throws for types safetensors cannot hold
  }
  // Wider types first: with an 8-byte-aligned data start every tensor is then aligned for its type
  // (so readers can alias it). Stable, so equal widths keep the caller's order.
  std::vector<std::size_t> order(tensors.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return tensors[a].second.element_size() > tensors[b].second.element_size();
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (std::size_t i : order) {
    const auto& [name, t] = tensors[i];
    const std::uint64_t end = offset + nbytes_of(t);
    header[name] = {{"dtype", dtype_name(to_dtype(t.scalar_type()))},
                    {"shape", std::vector<std::int64_t>(t.sizes().begin(), t.sizes().end())},
                    {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception&) {
    throw OutputError(path, "tensor names and metadata must be valid UTF-8");
  }
  // Pad with spaces (valid JSON whitespace) so the data section starts at a multiple of 8.
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');

  AtomicFile file(path);
  std::uint8_t length[8];
  for (int b = 0; b < 8; ++b) length[b] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(text.size()) >> (8 * b));
  file.write(length, sizeof length);
  file.write(text);
  for (std::size_t i : order) {
    // One tensor at a time on the host, so a GPU model is never copied to the CPU all at once.
    const at::Tensor host = tensors[i].second.detach().to(at::kCPU).contiguous();
    file.write(host.data_ptr(), nbytes_of(host));
  }
  file.commit();
}

std::vector<std::string> save_checkpoint(const std::string& dir, const NamedTensors& tensors, const SaveOptions& options) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw OutputError(dir, "cannot create the directory: " + ec.message());
  std::map<std::string, std::string> file_metadata = options.metadata;
  // transformers refuses safetensors files whose metadata lacks a known "format".
  file_metadata.emplace("format", "pt");

  // Greedy shards in the caller's order; a tensor larger than the limit gets a shard of its own.
  std::vector<NamedTensors> shards(1);
  std::uint64_t shard_bytes = 0, total_bytes = 0;
  for (const auto& named : tensors) {
    const std::uint64_t n = nbytes_of(named.second);
    total_bytes += n;
    if (options.max_shard_bytes > 0 && !shards.back().empty() && shard_bytes + n > options.max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(named);
    shard_bytes += n;
  }

  if (shards.size() == 1) {
    save_file((fs::path(dir) / kSingleFile).string(), tensors, file_metadata);
    remove_stale(dir, {kSingleFile});
    return {kSingleFile};
  }
  std::vector<std::string> written;
  nlohmann::json weight_map = nlohmann::json::object();
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const std::string name = shard_name(i + 1, shards.size());
    save_file((fs::path(dir) / name).string(), shards[i], file_metadata);
    for (const auto& named : shards[i]) weight_map[named.first] = name;
    written.push_back(name);
  }
  nlohmann::json index_metadata = options.metadata;
  index_metadata["total_size"] = total_bytes;
  const nlohmann::json index = {{"metadata", index_metadata}, {"weight_map", weight_map}};
  write_file_atomic((fs::path(dir) / kIndexFile).string(), index.dump(2) + "\n");
  written.push_back(kIndexFile);
  remove_stale(dir, std::set<std::string>(written.begin(), written.end()));
  return written;
}

}  // namespace distill::io
