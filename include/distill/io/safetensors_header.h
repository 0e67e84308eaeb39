// The safetensors header parser: validates a whole file held in memory. Torch-free, so the fuzz
// target (tests/fuzz) builds it with only nlohmann-json; safetensors.h builds the reader on it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "distill/io/dtype.h"

namespace distill::io {

// Largest header we accept (the format's reference implementation uses the same bound).
constexpr std::uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // byte offset into the data section (after the 8-byte length and header)
  std::uint64_t end = 0;    // one past the last byte
  std::uint64_t numel() const;
  std::uint64_t nbytes() const { return end - begin; }
};

struct Header {
  std::vector<TensorInfo> tensors;              // sorted by `begin`
  std::map<std::string, std::string> metadata;  // "__metadata__" (string -> string)
  std::uint64_t data_offset = 0;                // absolute offset of the data section: 8 + header length
};

// Validates a whole safetensors file held in memory (`bytes`, `size` = the file's size) and returns
// its header. Never reads outside [bytes, bytes + size). Checks: the 8-byte little-endian length,
// header length <= kMaxHeaderBytes and within the file, valid JSON object, each entry's dtype/shape/
// data_offsets well-formed, byte count == numel * dtype size, offsets inside the data section, no
// overlaps, and the data section fully covered (no gaps or trailing bytes, as the format requires).
// `path` names the file in error messages. Throws InputError.
Header parse_file(const std::uint8_t* bytes, std::uint64_t size, const std::string& path);

}  // namespace distill::io
