// Element types of safetensors files, independent of LibTorch (the header parser is torch-free).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace distill::io {

enum class DType : std::uint8_t { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

// The safetensors spelling: "F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL".
const char* dtype_name(DType dtype);
// Inverse of dtype_name; nullopt for anything else (including valid safetensors types we do not load).
std::optional<DType> parse_dtype(std::string_view name);
// Bytes per element.
std::size_t dtype_size(DType dtype);
// "F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL": for error messages.
std::string supported_dtype_names();

}  // namespace distill::io
