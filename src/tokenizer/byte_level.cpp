// GPT-2 byte alphabet tables, built once.
#include "distill/tokenizer/byte_level.h"

#include <array>

#include "distill/tokenizer/utf8.h"

namespace distill::tokenizer::byte_level {
namespace {

struct Tables {
  std::array<char32_t, 256> to_char{};
  std::array<std::int16_t, 512> to_byte{};  // indexed by character; -1: not in the alphabet
  Tables() {
    to_byte.fill(-1);
    auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const char32_t c = printable(b) ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
      to_char[static_cast<std::size_t>(b)] = c;
      to_byte[c] = static_cast<std::int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

char32_t char_of_byte(std::uint8_t b) { return tables().to_char[b]; }

bool to_bytes(std::string_view token, std::string& out) {
  const Tables& t = tables();
  out.clear();
  std::size_t i = 0;
  while (i < token.size()) {
    if (utf8::valid_length(token, i) == 0) return false;
    const char32_t c = utf8::next(token, i);
    if (c >= 512 || t.to_byte[c] < 0) return false;
    out.push_back(static_cast<char>(t.to_byte[c]));
  }
  return true;
}

std::string from_bytes(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char b : bytes) utf8::append(out, char_of_byte(static_cast<std::uint8_t>(b)));
  return out;
}

}  // namespace distill::tokenizer::byte_level
