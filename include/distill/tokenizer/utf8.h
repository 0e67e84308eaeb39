// UTF-8 decoding, validation and lossy repair (U+FFFD per maximal invalid subsequence).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace distill::tokenizer::utf8 {

constexpr char32_t kReplacement = 0xFFFD;

// Length of the valid UTF-8 sequence starting at s[i], or 0 when the bytes there are not one
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
std::size_t valid_length(std::string_view s, std::size_t i);

// Length of the maximal invalid subpart starting at s[i] (at least 1): the bytes one U+FFFD stands
// for under Unicode's "substitution of maximal subparts" (what Python and Rust do).
std::size_t invalid_length(std::string_view s, std::size_t i);

bool is_valid(std::string_view s);

// The text with every maximal invalid subpart replaced by U+FFFD. If `source_offsets` is given it
// receives, for each byte of the result plus one past the end, the byte offset in `s` it came from.
std::string repair(std::string_view s, std::vector<std::uint32_t>* source_offsets = nullptr);

// Decodes the code point at s[i] (which must start a valid sequence) and advances i.
inline char32_t next(std::string_view s, std::size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  if (b0 < 0xE0) {
    const char32_t c = (char32_t(b0 & 0x1F) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3F);
    i += 2;
    return c;
  }
  if (b0 < 0xF0) {
    const char32_t c = (char32_t(b0 & 0x0F) << 12) | (char32_t(static_cast<unsigned char>(s[i + 1]) & 0x3F) << 6) |
                       (static_cast<unsigned char>(s[i + 2]) & 0x3F);
    i += 3;
    return c;
  }
  const char32_t c = (char32_t(b0 & 0x07) << 18) | (char32_t(static_cast<unsigned char>(s[i + 1]) & 0x3F) << 12) |
                     (char32_t(static_cast<unsigned char>(s[i + 2]) & 0x3F) << 6) |
                     (static_cast<unsigned char>(s[i + 3]) & 0x3F);
  i += 4;
  return c;
}

// Byte length of the sequence a valid lead byte starts.
inline std::size_t sequence_length(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

inline std::size_t encoded_length(char32_t c) { return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4; }

void append(std::string& out, char32_t c);

inline std::string encode(char32_t c) {
  std::string s;
  append(s, c);
  return s;
}

// Number of code points in valid UTF-8.
std::size_t count_chars(std::string_view s);

}  // namespace distill::tokenizer::utf8
