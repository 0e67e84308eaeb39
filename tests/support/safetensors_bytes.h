// Hand-built safetensors bytes for tests (never made by the code under test) and the hostile cases.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace distill::testing {

// 8 bytes, little-endian.
inline std::string le64(std::uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

// A safetensors file: length prefix, header text exactly as given, data bytes.
inline std::string safetensors_bytes(const std::string& header, const std::string& data = {}) {
  return le64(header.size()) + header + data;
}

// A bad file and the fragments its error message must contain (besides the file's path).
struct HostileCase {
  std::string name;
  std::string bytes;
  std::vector<std::string> expect;
};

// GoogleTest prints parameters with this (the bytes would be noise).
inline void PrintTo(const HostileCase& c, std::ostream* os) { *os << c.name; }

inline std::vector<HostileCase> hostile_cases() {
  const std::string d8(8, '\x01'), d12(12, '\x01'), d16(16, '\x01');
  return {
      {"EmptyFile", "", {"empty file"}},
      {"ShorterThanLengthPrefix", std::string("\x10\x00\x00", 3), {"only 3 bytes", "too short"}},
      {"HeaderLengthBeyondFile", le64(1000) + "{}", {"header length 1000", "runs past the end of the file (10 bytes"}},
      {"HeaderOver100MB", le64(100000001) + "{}", {"header length 100000001", "exceeds the limit of 100000000"}},
      {"HeaderLengthMaxU64", le64(~0ull) + "{}", {"header length 18446744073709551615", "exceeds the limit"}},
      {"InvalidJson", safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [2],)"), {"header is not valid JSON"}},
      {"HeaderNotObject", safetensors_bytes("[1, 2]"), {"header is a JSON array, expected an object"}},
      {"EntryNotObject", safetensors_bytes(R"({"w": 5})"), {"tensor 'w' is a JSON number"}},
      {"TruncatedData",
       safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", d8),
       {"tensor 'w'", "data section holds only 8 bytes", "truncated"}},
      {"OffsetsOutsideData",
       safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                         R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [1000, 1008]}})",
                         d16),
       {"tensor 'b' has data_offsets [1000, 1008]", "data section holds only 16 bytes"}},
      {"OverlappingOffsets",
       safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                         R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                         d12),
       {"tensor 'b' (data_offsets [4, 12]) overlaps tensor 'a' (data_offsets [0, 8])"}},
      {"ReversedOffsets",
       safetensors_bytes(R"({"w": {"dtype": "U8", "shape": [4], "data_offsets": [8, 4]}})", d8),
       {"tensor 'w' has data_offsets [8, 4]", "end before they begin"}},
      {"UnorderedWithGap",  // listed out of offset order, and bytes [8, 12) belong to nobody
       safetensors_bytes(R"({"z": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]},)"
                         R"( "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})",
                         d16),
       {"bytes [8, 12) of the data section belong to no tensor", "gap before tensor 'z'"}},
      {"TrailingBytes",
       safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", d12),
       {"4 trailing bytes after the last tensor"}},
      {"ByteCountMismatch",
       safetensors_bytes(R"({"lm_head.weight": {"dtype": "F32", "shape": [5, 6], "data_offsets": [0, 100]}})",
                         std::string(100, '\0')),
       {"tensor 'lm_head.weight' has data_offsets [0, 100] but dtype F32 and shape [5, 6] need 120 bytes"}},
      {"UnknownDtype",
       safetensors_bytes(R"({"w": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}})", "ab"),
       {"tensor 'w' has dtype \"F8_E4M3\"", "does not support",
        "F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL"}},
      {"NegativeShape",
       safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [-1, 2], "data_offsets": [0, 8]}})", d8),
       {"tensor 'w' has shape [-1,2]", "non-negative integers"}},
      {"FractionalOffsets",
       safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8.0]}})", d8),
       {"tensor 'w' has data_offsets", "two non-negative integers"}},
      {"ShapeOverflow",
       safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})"),
       {"tensor 'w' has shape [4294967296, 4294967296]", "overflows 64 bits"}},
      {"MetadataNotStrings", safetensors_bytes(R"({"__metadata__": {"step": 5}})"),
       {"__metadata__ key 'step' holds a number", "must be strings"}},
      {"DuplicateKey",
       safetensors_bytes(R"({"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},)"
                         R"( "w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}})",
                         "x"),
       {"the key 'w' more than once"}},
      {"MissingField", safetensors_bytes(R"({"w": {"dtype": "U8", "shape": [1]}})", "x"),
       {"tensor 'w' has no \"data_offsets\""}},
  };
}

inline HostileCase hostile_case(const std::string& name) {
  for (auto& c : hostile_cases()) {
    if (c.name == name) return c;
  }
  return {name, "", {"<no hostile case named " + name + ">"}};
}

}  // namespace distill::testing
