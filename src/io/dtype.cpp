// Names and sizes of the safetensors element types distill loads (torch-free).
#include "distill/io/dtype.h"

#include <iterator>

namespace distill::io {
namespace {

struct DTypeRow {
  DType dtype;
  const char* name;
  std::size_t size;
};

// One row per DType, in enum order.
constexpr DTypeRow kRows[] = {
    {DType::kF64, "F64", 8}, {DType::kF32, "F32", 4}, {DType::kF16, "F16", 2}, {DType::kBF16, "BF16", 2},
    {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4}, {DType::kI16, "I16", 2}, {DType::kI8, "I8", 1},
    {DType::kU8, "U8", 1},   {DType::kBool, "BOOL", 1},
};

const DTypeRow& row(DType dtype) {
  // The enum is dense and in table order; anything else is a corrupted value.
  const auto i = static_cast<std::size_t>(dtype);
  return kRows[i < std::size(kRows) ? i : 0];
}

}  // namespace

const char* dtype_name(DType dtype) { return row(dtype).name; }

std::size_t dtype_size(DType dtype) { return row(dtype).size; }

std::optional<DType> parse_dtype(std::string_view name) {
  for (const auto& r : kRows) {
    if (name == r.name) return r.dtype;
  }
  return std::nullopt;
}

std::string supported_dtype_names() {
  std::string out;
  for (const auto& r : kRows) {
    if (!out.empty()) out += ", ";
    out += r.name;
  }
  return out;
}

}  // namespace distill::io
