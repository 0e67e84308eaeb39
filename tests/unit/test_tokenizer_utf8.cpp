// UTF-8 validation and repair: Python's errors="replace" results (maximal subparts), offset maps.
#include <gtest/gtest.h>

#include "distill/tokenizer/utf8.h"

namespace distill::tokenizer::utf8 {
namespace {

std::string from_hex(const std::string& h) {
  std::string out;
  for (std::size_t i = 0; i < h.size(); i += 2) out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

std::vector<char32_t> code_points(const std::string& s) {
  std::vector<char32_t> out;
  std::size_t i = 0;
  while (i < s.size()) out.push_back(next(s, i));
  return out;
}

TEST(TokenizerUtf8, ValidAndInvalidSequences) {
  EXPECT_TRUE(is_valid(""));
  EXPECT_TRUE(is_valid("plain ASCII, long enough to take the eight-byte path"));
  EXPECT_TRUE(is_valid("caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80"));
  EXPECT_FALSE(is_valid(from_hex("c0af")));      // overlong '/'
  EXPECT_FALSE(is_valid(from_hex("e08080")));    // overlong NUL
  EXPECT_FALSE(is_valid(from_hex("eda080")));    // surrogate U+D800
  EXPECT_FALSE(is_valid(from_hex("f4908080")));  // above U+10FFFF
  EXPECT_FALSE(is_valid(from_hex("e282")));      // truncated
  EXPECT_FALSE(is_valid("abcdefgh\x80"));        // stray continuation after an ASCII run
  EXPECT_EQ(valid_length(from_hex("f09f9880"), 0), 4u);
  EXPECT_EQ(valid_length(from_hex("f09f98"), 0), 0u);
}

// Expected code points are Python's bytes.fromhex(h).decode("utf-8", errors="replace").
TEST(TokenizerUtf8, RepairMatchesPythonReplace) {
  const std::vector<std::pair<std::string, std::vector<char32_t>>> cases = {
      {"ff", {0xFFFD}},
      {"48656c6c6fc328", {'H', 'e', 'l', 'l', 'o', 0xFFFD, '('}},
      {"61e28262", {'a', 0xFFFD, 'b'}},
      {"f0908080f09080", {0x10000, 0xFFFD}},
      {"eda080", {0xFFFD, 0xFFFD, 0xFFFD}},
      {"c0af", {0xFFFD, 0xFFFD}},
      {"80bf41", {0xFFFD, 0xFFFD, 'A'}},
      {"f4908080", {0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD}},
      {"e282", {0xFFFD}},
      {"f09f98", {0xFFFD}},
  };
  for (const auto& [hex, want] : cases) {
    const std::string fixed = repair(from_hex(hex));
    EXPECT_TRUE(is_valid(fixed)) << hex;
    EXPECT_EQ(code_points(fixed), want) << hex;
  }
}

TEST(TokenizerUtf8, RepairMapsEveryByteToItsSource) {
  std::vector<std::uint32_t> src;
  const std::string in = from_hex("61e2826262");  // a, <E2 82>, b, b
  const std::string out = repair(in, &src);
  ASSERT_EQ(out, "a\xEF\xBF\xBD" "bb");
  EXPECT_EQ(src, (std::vector<std::uint32_t>{0, 1, 1, 1, 3, 4, 5}));  // one entry per byte + end
}

TEST(TokenizerUtf8, EncodeAndCount) {
  EXPECT_EQ(encode(0x41), "A");
  EXPECT_EQ(encode(0xE9), "\xC3\xA9");
  EXPECT_EQ(encode(0x20AC), "\xE2\x82\xAC");
  EXPECT_EQ(encode(0x1F600), "\xF0\x9F\x98\x80");
  EXPECT_EQ(count_chars("a\xC3\xA9\xF0\x9F\x98\x80"), 3u);
}

}  // namespace
}  // namespace distill::tokenizer::utf8
