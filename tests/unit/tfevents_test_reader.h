// A small reader of TensorBoard event files for the tests, independent of the writer
// (checkpoint/tensorboard.h): TFRecord framing with both CRCs checked by a bitwise CRC-32C, and
// the Event/Summary/Value fields distill writes. Anything malformed throws std::runtime_error.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "test_support.h"

namespace distill::testing::tfevents {

inline std::uint64_t le(const std::string& bytes, std::size_t pos, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes.at(pos + static_cast<std::size_t>(i)));
  return v;
}

// Base-128 varint at `pos`; advances `pos`. Throws on a truncated or over-long varint.
inline std::uint64_t read_varint(const std::string& bytes, std::size_t& pos) {
  std::uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (pos >= bytes.size()) throw std::runtime_error("truncated varint");
    const auto b = static_cast<unsigned char>(bytes[pos++]);
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return v;
  }
  throw std::runtime_error("varint longer than 10 bytes");
}

// Independent CRC-32C (bit by bit, no table) for the reader's checks.
inline std::uint32_t slow_crc32c(const std::string& bytes) {
  std::uint32_t c = 0xffffffffu;
  for (unsigned char b : bytes) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
  }
  return ~c;
}
inline std::uint32_t slow_masked(const std::string& bytes) {
  const std::uint32_t c = slow_crc32c(bytes);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

// Splits a TFRecord file into its records' data, checking both CRCs of each.
inline std::vector<std::string> read_records(const std::string& file) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < file.size()) {
    if (file.size() - pos < 12) throw std::runtime_error("truncated record header at " + std::to_string(pos));
    const std::uint64_t length = le(file, pos, 8);
    if (le(file, pos + 8, 4) != slow_masked(file.substr(pos, 8))) throw std::runtime_error("length crc mismatch");
    pos += 12;
    if (file.size() - pos < length + 4) throw std::runtime_error("truncated record data");
    std::string data = file.substr(pos, length);
    if (le(file, pos + length, 4) != slow_masked(data)) throw std::runtime_error("data crc mismatch");
    pos += length + 4;
    out.push_back(std::move(data));
  }
  return out;
}

struct Field {
  std::uint32_t number = 0;
  std::uint32_t wire = 0;
  std::uint64_t scalar = 0;  // varint, fixed64 or fixed32 value
  std::string bytes;         // length-delimited payload
};

inline std::vector<Field> read_fields(const std::string& msg) {
  std::vector<Field> out;
  std::size_t pos = 0;
  while (pos < msg.size()) {
    const std::uint64_t key = read_varint(msg, pos);
    Field f;
    f.number = static_cast<std::uint32_t>(key >> 3);
    f.wire = static_cast<std::uint32_t>(key & 7);
    if (f.wire == 0) {
      f.scalar = read_varint(msg, pos);
    } else if (f.wire == 1 || f.wire == 5) {
      const int n = f.wire == 1 ? 8 : 4;
      if (msg.size() - pos < static_cast<std::size_t>(n)) throw std::runtime_error("truncated fixed field");
      f.scalar = le(msg, pos, n);
      pos += static_cast<std::size_t>(n);
    } else if (f.wire == 2) {
      const std::uint64_t n = read_varint(msg, pos);
      if (msg.size() - pos < n) throw std::runtime_error("truncated length-delimited field");
      f.bytes = msg.substr(pos, n);
      pos += n;
    } else {
      throw std::runtime_error("unexpected wire type " + std::to_string(f.wire));
    }
    out.push_back(std::move(f));
  }
  return out;
}

struct Event {
  double wall_time = -1;
  std::int64_t step = -1;
  std::string file_version;
  bool has_summary = false;
  std::vector<std::pair<std::string, float>> values;
};

inline Event parse_event(const std::string& data) {
  Event e;
  for (const Field& f : read_fields(data)) {
    if (f.number == 1 && f.wire == 1) {
      std::memcpy(&e.wall_time, &f.scalar, 8);
    } else if (f.number == 2 && f.wire == 0) {
      e.step = static_cast<std::int64_t>(f.scalar);
    } else if (f.number == 3 && f.wire == 2) {
      e.file_version = f.bytes;
    } else if (f.number == 5 && f.wire == 2) {
      e.has_summary = true;
      for (const Field& v : read_fields(f.bytes)) {
        if (v.number != 1 || v.wire != 2) throw std::runtime_error("Summary: unexpected field");
        std::string tag;
        float value = NAN;
        bool has_value = false;
        for (const Field& x : read_fields(v.bytes)) {
          if (x.number == 1 && x.wire == 2) tag = x.bytes;
          if (x.number == 2 && x.wire == 5) {
            const auto bits = static_cast<std::uint32_t>(x.scalar);
            std::memcpy(&value, &bits, 4);
            has_value = true;
          }
        }
        if (!has_value) throw std::runtime_error("Value without simple_value");
        e.values.emplace_back(tag, value);
      }
    } else {
      throw std::runtime_error("Event: unexpected field " + std::to_string(f.number));
    }
  }
  return e;
}

inline std::vector<Event> read_events(const std::string& path) {
  std::vector<Event> out;
  for (const std::string& data : read_records(read_file(path))) out.push_back(parse_event(data));
  return out;
}

}  // namespace distill::testing::tfevents
