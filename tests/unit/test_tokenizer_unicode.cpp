// NFC/NFD: known compositions, canonical ordering, Unicode-version gating, HF alignment changes,
// and the NormalizationTest.txt conformance cases (tests/data/tokenizers/nfc_tests.txt).
#include <gtest/gtest.h>

#include <sstream>

#include "distill/tokenizer/normalized_string.h"
#include "distill/tokenizer/unicode.h"
#include "distill/tokenizer/utf8.h"
#include "test_support.h"

namespace distill::tokenizer::unicode {
namespace {

std::string u8(std::initializer_list<char32_t> cps) {
  std::string s;
  for (char32_t c : cps) utf8::append(s, c);
  return s;
}

std::string nfc(const std::string& s, int version = kHfTokenizersVersion) { return normalize(s, Form::kNFC, version); }

TEST(TokenizerUnicode, KnownCompositions) {
  EXPECT_EQ(nfc(u8({'e', 0x301})), u8({0xE9}));                         // e + acute
  EXPECT_EQ(nfc(u8({0x1100, 0x1161, 0x11A8})), u8({0xAC01}));           // Hangul L V T
  EXPECT_EQ(nfc(u8({0xAC00, 0x11A8})), u8({0xAC01}));                   // LV syllable + T
  EXPECT_EQ(nfc(u8({0x212B})), u8({0xC5}));                             // ANGSTROM SIGN -> Å
  EXPECT_EQ(nfc(u8({0x212A})), "K");                                    // KELVIN SIGN
  EXPECT_EQ(nfc(u8({0xF900})), u8({0x8C48}));                           // CJK compatibility ideograph
  EXPECT_EQ(nfc(u8({0x915, 0x93C})), u8({0x915, 0x93C}));               // U+0958 is excluded
  EXPECT_EQ(nfc(u8({0x958})), u8({0x915, 0x93C}));
  EXPECT_EQ(nfc(u8({'q', 0x307, 0x323})), u8({'q', 0x323, 0x307}));     // reordered by class
  EXPECT_EQ(nfc(u8({'A', 0x30A, 0x301})), u8({0x1FA}));                 // Å then acute
  EXPECT_EQ(nfc(u8({'a', 0x308, 0x304})), u8({0x1DF}));                 // ä then macron
  EXPECT_EQ(nfc(u8({'e', 0x301, 0x301})), u8({0xE9, 0x301}));           // the second acute is blocked
  EXPECT_EQ(normalize(u8({0xE9}), Form::kNFD, kHfTokenizersVersion), u8({'e', 0x301}));
  EXPECT_EQ(normalize(u8({0xAC01}), Form::kNFD, kHfTokenizersVersion), u8({0x1100, 0x1161, 0x11A8}));
}

// HF's tokenizers uses Unicode 9.0 data: characters assigned later neither compose nor reorder.
TEST(TokenizerUnicode, VersionGating) {
  const std::string dives_akuru = u8({0x11935, 0x11930});  // composes to U+11938 since Unicode 13
  EXPECT_EQ(nfc(dives_akuru, 90), dives_akuru);
  EXPECT_EQ(nfc(dives_akuru, latest_version()), u8({0x11938}));
  const std::string marks = u8({'a', 0x1AC1, 0x323});  // U+1AC1 (Unicode 14, class 230)
  EXPECT_EQ(nfc(marks, 90), u8({'a', 0x1AC1, 0x323}));
  EXPECT_EQ(nfc(marks, latest_version()), u8({0x1EA1, 0x1AC1}));  // reordered, then a + dot below
  EXPECT_EQ(combining_class(0x1AC1, 90), 0);
  EXPECT_EQ(combining_class(0x1AC1, latest_version()), 230);
  EXPECT_GE(latest_version(), 150);
}

TEST(TokenizerUnicode, QuickCheck) {
  EXPECT_TRUE(is_normalized_quick("plain ASCII", Form::kNFC, 90));
  EXPECT_TRUE(is_normalized_quick(u8({0x4E2D, 0x6587, 0xAC01, 0xE9}), Form::kNFC, 90));
  EXPECT_FALSE(is_normalized_quick(u8({'e', 0x301}), Form::kNFC, 90));
  EXPECT_FALSE(is_normalized_quick(u8({0x1100, 0x1161}), Form::kNFC, 90));  // V jamo may compose
  EXPECT_FALSE(is_normalized_quick(u8({0xF900}), Form::kNFC, 90));
  EXPECT_FALSE(is_normalized_quick(u8({0xE9}), Form::kNFD, 90));
  EXPECT_TRUE(is_white_space(0x3000));
  EXPECT_TRUE(is_white_space(0x85));
  EXPECT_FALSE(is_white_space(0x180E));
  EXPECT_FALSE(is_white_space(0x200B));
}

// The change values decide offsets: a composed character keeps the range of its first input
// character, as in HF (unicode-normalization-alignments).
TEST(TokenizerUnicode, AlignmentChanges) {
  std::vector<CharChange> out;
  normalize(u8({'e', 0x301, 'x'}), Form::kNFC, 90, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].c, 0xE9u);
  EXPECT_EQ(out[0].change, -1);
  EXPECT_EQ(out[1].change, 0);
  normalize(u8({0xE9}), Form::kNFD, 90, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].change, 0);
  EXPECT_EQ(out[1].change, 1);

  NormalizedString s(u8({'e', 0x301, 'x'}), 10);
  normalize(s.text(), Form::kNFC, 90, out);
  s.transform(out);
  EXPECT_EQ(s.text(), u8({0xE9, 'x'}));
  EXPECT_EQ(s.original_span(0, 2), (Offset{10, 11}));  // é: only the 'e'
  EXPECT_EQ(s.original_span(2, 3), (Offset{13, 14}));  // x
}

std::string from_hex_cps(const std::string& field) {
  std::istringstream in(field);
  std::string hex, out;
  while (in >> hex) utf8::append(out, static_cast<char32_t>(std::stoul(hex, nullptr, 16)));
  return out;
}

TEST(TokenizerUnicode, NormalizationTestConformance) {
  std::istringstream in(distill::testing::read_file(distill::testing::data_path("tokenizers/nfc_tests.txt")));
  std::string line;
  std::size_t cases = 0, failures = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto semi = line.find(';');
    const std::string src = from_hex_cps(line.substr(0, semi));
    const std::string want = from_hex_cps(line.substr(semi + 1));
    ++cases;
    if (nfc(src, latest_version()) != want) {
      if (++failures <= 5) ADD_FAILURE() << "NFC(" << line.substr(0, semi) << ") != " << line.substr(semi + 1);
    }
    if (is_normalized_quick(src, Form::kNFC, latest_version())) {
      EXPECT_EQ(src, want) << "quick check passed a text that NFC changes: " << line;
    }
  }
  EXPECT_GT(cases, 8000u);
  EXPECT_EQ(failures, 0u);
}

}  // namespace
}  // namespace distill::tokenizer::unicode
