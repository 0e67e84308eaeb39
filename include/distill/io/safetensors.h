// safetensors files: a validating header parser (torch-free), an mmap reader, sharded checkpoints
// (model.safetensors.index.json) and an atomic writer. Bad files raise InputError (exit 3).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "distill/io/dtype.h"
#include "distill/io/safetensors_header.h"

namespace distill::io {

// One safetensors file, memory-mapped (private copy-on-write mapping, so tensors that alias it can
// be modified in place without touching the file). Kept alive by the tensors that alias it.
class SafetensorsFile : public std::enable_shared_from_this<SafetensorsFile> {
 public:
  // Opens, maps and validates `path`. Throws InputError for a missing, unreadable or malformed file.
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const Header& header() const { return header_; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  // nullptr when absent.
  const TensorInfo* find(const std::string& name) const;
  // Raw bytes of a tensor inside the mapping.
  const std::uint8_t* bytes(const TensorInfo& info) const;
  // A CPU tensor with the file's dtype and shape. Zero-copy (aliases the mapping and keeps this file
  // alive) when the data is aligned for its dtype, otherwise a copy. Writes into an aliasing tensor
  // never reach the file, but later tensor() calls on this same open file see them. Throws
  // InputError if absent, or for a BOOL tensor holding a byte other than 0 or 1.
  at::Tensor tensor(const std::string& name) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  std::uint8_t* map_ = nullptr;
  std::uint64_t size_ = 0;
  Header header_;
  std::map<std::string, std::size_t> index_;  // name -> position in header_.tensors
};

// A model's weights: a single .safetensors file, or a set of shards listed by an index file
// (model.safetensors.index.json, {"metadata": {...}, "weight_map": {name: shard file}}).
class Checkpoint {
 public:
  // `path` is a .safetensors file, an *.index.json file, or a directory holding model.safetensors
  // or model.safetensors.index.json. Throws InputError naming what is missing or malformed,
  // including an index whose weight_map names a tensor absent from its shard.
  static Checkpoint open(const std::string& path);

  // Tensor names in a stable order (shard order, then offset order within a shard).
  const std::vector<std::string>& names() const { return names_; }
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;  // throws InputError if absent
  at::Tensor tensor(const std::string& name) const;       // see SafetensorsFile::tensor
  // The file a tensor lives in (for error messages).
  const std::string& file_of(const std::string& name) const;
  const std::vector<std::shared_ptr<SafetensorsFile>>& files() const { return files_; }
  // Metadata of the first file (single-file checkpoints) or the index's "metadata" object
  // (non-string values such as total_size as their JSON text).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The file or index the checkpoint was opened from (for error messages).
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::vector<std::string> names_;
  std::map<std::string, std::pair<std::size_t, const TensorInfo*>> where_;  // name -> (file, info)
  std::map<std::string, std::string> metadata_;
};

// Maps between our dtype and LibTorch's; to_dtype throws UsageError for a type safetensors lacks.
at::ScalarType to_scalar_type(DType dtype);
DType to_dtype(at::ScalarType type);

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// Writes one safetensors file atomically (temp file in the same directory, fsync, rename, fsync of
// the directory): readers see the old file or the complete new one, never a partial one. Tensors
// may live on any device and need not be contiguous (each is copied to the host on its own while
// writing); names must be unique. Data is laid out widest type first after an 8-byte-aligned
// header, so every tensor can be read back zero-copy. Throws OutputError with the path and the
// system's reason (e.g. "No space left on device"); the temp file is removed. A dtype safetensors
// cannot hold is a UsageError (see to_dtype).
void save_file(const std::string& path, const NamedTensors& tensors,
               const std::map<std::string, std::string>& metadata = {});

struct SaveOptions {
  // 0: always one file (model.safetensors). Otherwise shards of at most this many bytes of tensor
  // data (a single larger tensor gets a shard of its own) named model-00001-of-0000N.safetensors,
  // plus model.safetensors.index.json, as Hugging Face writes them; when everything fits in one
  // shard the result is a plain model.safetensors, again as Hugging Face does.
  std::uint64_t max_shard_bytes = 0;
  // Stored in every file's __metadata__ (plus "format": "pt" unless given: transformers requires
  // it) and in the index's "metadata" next to "total_size".
  std::map<std::string, std::string> metadata;
};

// Writes a checkpoint into directory `dir` (created if needed) and returns the written file names.
// Each file is written atomically; the index is written last; then weight files of an earlier save
// that this one did not overwrite (model.safetensors, model.safetensors.index.json,
// model-NNNNN-of-NNNNN.safetensors) are removed, so the directory never holds two checkpoints.
// Other files in `dir` are left alone.
std::vector<std::string> save_checkpoint(const std::string& dir, const NamedTensors& tensors,
                                         const SaveOptions& options = {});

}  // namespace distill::io
