// Validating safetensors header parser. Torch-free (nlohmann + errors.h only): the fuzzer builds it.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "distill/io/safetensors_header.h"
#include "distill/util/errors.h"

namespace distill::io {
namespace {

using nlohmann::json;

// Names and JSON snippets go into one-line error messages: escape control bytes, cap the length.
std::string printable(std::string_view text, std::size_t limit = 200) {
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > limit) out += "...";
  return out;
}

std::string tensor_label(const std::string& name) { return "tensor '" + printable(name) + "'"; }

std::string offsets_text(std::uint64_t begin, std::uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// A JSON value as it appeared (re-serialised), for messages. Input strings are valid UTF-8 (the
// parser checked), so dump() cannot throw; "replace" keeps that true even if that ever changes.
std::string json_text(const json& value) {
  return printable(value.dump(-1, ' ', false, json::error_handler_t::replace), 120);
}

// A non-negative JSON integer (not a float, not a bool) into `out`.
bool as_u64(const json& value, std::uint64_t& out) {
  if (value.is_number_unsigned()) {
    out = value.get<std::uint64_t>();
    return true;
  }
  if (value.is_number_integer() && value.get<std::int64_t>() >= 0) {
    out = static_cast<std::uint64_t>(value.get<std::int64_t>());
    return true;
  }
  return false;
}

std::uint64_t read_le64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Parses the header text, rejecting duplicate keys at any depth (nlohmann would keep the last one;
// a file that says two things about one tensor is not one we should guess about).
json parse_json(std::string_view text, const std::string& path) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  auto on_event = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !open_objects.empty() && parsed.is_string()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second && duplicate.empty()) duplicate = key;
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text.begin(), text.end(), on_event);
  } catch (const json::exception& e) {
    throw InputError(path, "header is not valid JSON: " + printable(e.what(), 300));
  }
  if (!duplicate.empty()) {
    throw InputError(path, "header has the key '" + printable(duplicate) + "' more than once");
  }
  if (!header.is_object()) {
    throw InputError(path, std::string("header is a JSON ") + header.type_name() + ", expected an object");
  }
  return header;
}

std::map<std::string, std::string> parse_metadata(const json& value, const std::string& path) {
  std::map<std::string, std::string> metadata;
  if (value.is_null()) return metadata;
  if (!value.is_object()) {
    throw InputError(path, std::string("__metadata__ is a JSON ") + value.type_name() +
                               ", expected an object of string values");
  }
  for (const auto& [key, v] : value.items()) {
    if (!v.is_string()) {
      throw InputError(path, "__metadata__ key '" + printable(key) + "' holds a " + v.type_name() +
                                 " (" + json_text(v) + "); metadata values must be strings");
    }
    metadata[key] = v.get<std::string>();
  }
  return metadata;
}

// One tensor entry: everything that can be checked without looking at the other tensors.
TensorInfo parse_tensor(const std::string& name, const json& entry, std::uint64_t data_size,
                        const std::string& path) {
  const std::string label = tensor_label(name);
  if (!entry.is_object()) {
    throw InputError(path, label + " is a JSON " + entry.type_name() +
                               ", expected an object with dtype, shape and data_offsets");
  }
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!entry.contains(field)) throw InputError(path, label + " has no \"" + field + "\"");
  }
  TensorInfo info;
  info.name = name;

  const json& dtype = entry["dtype"];
  const std::optional<DType> parsed_dtype =
      dtype.is_string() ? parse_dtype(dtype.get_ref<const std::string&>()) : std::nullopt;
  if (!parsed_dtype) {
    throw InputError(path, label + " has dtype " + json_text(dtype) +
                               ", which distill does not support (supported: " + supported_dtype_names() + ")");
  }
  info.dtype = *parsed_dtype;

  const json& shape = entry["shape"];
  const std::string bad_shape = label + " has shape " + json_text(shape) + "; expected a list of non-negative integers";
  if (!shape.is_array()) throw InputError(path, bad_shape);
  std::uint64_t numel = 1;
  bool overflow = false;
  for (const json& dim : shape) {
    std::uint64_t d = 0;
    if (!as_u64(dim, d) || d > static_cast<std::uint64_t>(INT64_MAX)) throw InputError(path, bad_shape);
    info.shape.push_back(static_cast<std::int64_t>(d));
    overflow = overflow || __builtin_mul_overflow(numel, d, &numel);
  }
  std::uint64_t need = 0;
  overflow = overflow || __builtin_mul_overflow(numel, dtype_size(info.dtype), &need);
  if (overflow) {
    throw InputError(path, label + " has shape " + shape_text(info.shape) + ", whose size overflows 64 bits");
  }

  const json& offsets = entry["data_offsets"];
  std::uint64_t begin = 0, end = 0;
  if (!offsets.is_array() || offsets.size() != 2 || !as_u64(offsets[0], begin) || !as_u64(offsets[1], end)) {
    throw InputError(path, label + " has data_offsets " + json_text(offsets) +
                               "; expected [begin, end], two non-negative integers");
  }
  if (begin > end) {
    throw InputError(path, label + " has data_offsets " + offsets_text(begin, end) + ", which end before they begin");
  }
  info.begin = begin;
  info.end = end;
  if (info.nbytes() != need) {
    throw InputError(path, label + " has data_offsets " + offsets_text(begin, end) + " but dtype " +
                               dtype_name(info.dtype) + " and shape " + shape_text(info.shape) + " need " +
                               std::to_string(need) + " bytes");
  }
  if (info.end > data_size) {
    throw InputError(path, label + " has data_offsets " + offsets_text(begin, end) + " but the data section holds only " +
                               std::to_string(data_size) + " bytes (is the file truncated?)");
  }
  return info;
}

// The tensors, sorted by offset, must tile the data section exactly: no overlap, gap or tail.
void check_coverage(const std::vector<TensorInfo>& tensors, std::uint64_t data_size, const std::string& path) {
  std::uint64_t covered = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo& t : tensors) {
    if (t.begin < covered) {
      throw InputError(path, tensor_label(t.name) + " (data_offsets " + offsets_text(t.begin, t.end) + ") overlaps " +
                                 tensor_label(previous->name) + " (data_offsets " +
                                 offsets_text(previous->begin, previous->end) + ")");
    }
    if (t.begin > covered) {
      throw InputError(path, "bytes [" + std::to_string(covered) + ", " + std::to_string(t.begin) +
                                 ") of the data section belong to no tensor (a gap before " + tensor_label(t.name) + ")");
    }
    covered = t.end;
    previous = &t;
  }
  if (covered != data_size) {
    throw InputError(path, std::to_string(data_size - covered) + " trailing bytes after the last tensor (the data section is " +
                               std::to_string(data_size) + " bytes, the tensors cover " + std::to_string(covered) + ")");
  }
}

}  // namespace

std::uint64_t TensorInfo::numel() const {
  std::uint64_t n = 1;
  for (std::int64_t d : shape) n *= static_cast<std::uint64_t>(d);
  return n;
}

Header parse_file(const std::uint8_t* bytes, std::uint64_t size, const std::string& path) {
  if (size == 0) throw InputError(path, "empty file (0 bytes); a safetensors file starts with an 8-byte header length");
  if (size < 8) {
    throw InputError(path, "file is only " + std::to_string(size) + " bytes, too short for the 8-byte header length");
  }
  const std::uint64_t header_len = read_le64(bytes);
  if (header_len > kMaxHeaderBytes) {
    throw InputError(path, "header length " + std::to_string(header_len) + " exceeds the limit of " +
                               std::to_string(kMaxHeaderBytes) + " bytes (not a safetensors file?)");
  }
  if (header_len > size - 8) {
    throw InputError(path, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                               std::to_string(size) + " bytes; is the file truncated?)");
  }
  Header header;
  header.data_offset = 8 + header_len;
  const std::uint64_t data_size = size - header.data_offset;
  const std::string_view text(reinterpret_cast<const char*>(bytes + 8), static_cast<std::size_t>(header_len));
  const json root = parse_json(text, path);
  for (const auto& [name, entry] : root.items()) {
    if (name == "__metadata__") {
      header.metadata = parse_metadata(entry, path);
    } else {
      header.tensors.push_back(parse_tensor(name, entry, data_size, path));
    }
  }
  std::sort(header.tensors.begin(), header.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    return a.end != b.end ? a.end < b.end : a.name < b.name;
  });
  check_coverage(header.tensors, data_size, path);
  return header;
}

}  // namespace distill::io
