// Pre-tokenizers and regex: HF's split behaviours, pattern translation (\s = White_Space),
// GPT-2's pattern, Metaspace prepend schemes, Digits, ByteLevel's prefix space.
#include <gtest/gtest.h>

#include "distill/tokenizer/pre_tokenizer.h"
#include "distill/tokenizer/regex.h"

namespace distill::tokenizer {
namespace {

std::vector<std::string> pieces(const PreTokenizer& p, const std::string& text, std::uint32_t base = 0) {
  PreTokenizedString pts;
  pts.add_segment(NormalizedString(text, base));
  p.pre_tokenize(pts);
  std::vector<std::string> out;
  for (const auto& piece : pts.pieces) out.emplace_back(pts.text(piece));
  return out;
}

using Strings = std::vector<std::string>;

// The example of HF's SplitDelimiterBehavior documentation.
TEST(TokenizerPreTokenizer, SplitBehaviours) {
  auto split = [](SplitBehavior b, bool invert = false) {
    return pieces(*make_split_pre_tokenizer(Regex::compile("-", true), b, invert), "the-final--countdown");
  };
  EXPECT_EQ(split(SplitBehavior::kRemoved), (Strings{"the", "final", "countdown"}));
  EXPECT_EQ(split(SplitBehavior::kIsolated), (Strings{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split(SplitBehavior::kMergedWithPrevious), (Strings{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(split(SplitBehavior::kMergedWithNext), (Strings{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(split(SplitBehavior::kContiguous), (Strings{"the", "-", "final", "--", "countdown"}));
  EXPECT_EQ(split(SplitBehavior::kRemoved, true), (Strings{"-", "-", "-"}));
}

TEST(TokenizerPreTokenizer, PatternTranslation) {
  EXPECT_EQ(translate_pattern("\\s+(?!\\S)"), "\\p{White_Space}+(?!\\P{White_Space})");
  EXPECT_EQ(translate_pattern("[^\\s\\p{L}]"), "[^\\p{White_Space}\\p{L}]");
  EXPECT_EQ(translate_pattern("\\d\\\\s"), "\\p{Nd}\\\\s");  // an escaped backslash stays
  EXPECT_EQ(translate_pattern("[\\w]"), "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]");
  EXPECT_THROW(translate_pattern("[\\W]"), RegexError);
  const Regex ws = Regex::compile("\\s");
  EXPECT_TRUE(ws.search("\xE3\x80\x80"));   // U+3000
  EXPECT_TRUE(ws.search("\xC2\x85"));       // U+0085
  EXPECT_FALSE(ws.search("\xE1\xA0\x8E"));  // U+180E: PCRE2's own \s would match it
  EXPECT_FALSE(ws.search("\x1C"));
  EXPECT_THROW(Regex::compile("(unclosed"), RegexError);
}

TEST(TokenizerPreTokenizer, Gpt2Pattern) {
  const auto p = make_byte_level_pre_tokenizer(false, true);
  EXPECT_EQ(pieces(*p, "Hello world  !! I'm 42x"),
            (Strings{"Hello", " world", " ", " !!", " I", "'m", " 42", "x"}));
  EXPECT_EQ(pieces(*p, "a\n\n b"), (Strings{"a", "\n\n", " b"}));
  EXPECT_EQ(pieces(*make_byte_level_pre_tokenizer(true, true), "Hi"), (Strings{" Hi"}));
  EXPECT_EQ(pieces(*make_byte_level_pre_tokenizer(true, true), " Hi"), (Strings{" Hi"}));
}

TEST(TokenizerPreTokenizer, QwenPatternHandlesCaseInsensitiveContractions) {
  const auto p = make_split_pre_tokenizer(
      Regex::compile("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
                     "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
      SplitBehavior::kIsolated, false);
  EXPECT_EQ(pieces(*p, "DON'T 123"), (Strings{"DON", "'T", " ", "1", "2", "3"}));
  EXPECT_EQ(pieces(*p, "a  b"), (Strings{"a", " ", " b"}));
}

TEST(TokenizerPreTokenizer, MetaspaceSchemes) {
  const std::string m = "\xE2\x96\x81";  // ▁
  EXPECT_EQ(pieces(*make_metaspace_pre_tokenizer(m, PrependScheme::kAlways, true), "Hey friend"),
            (Strings{m + "Hey", m + "friend"}));
  EXPECT_EQ(pieces(*make_metaspace_pre_tokenizer(m, PrependScheme::kNever, true), "Hey friend"),
            (Strings{"Hey", m + "friend"}));
  EXPECT_EQ(pieces(*make_metaspace_pre_tokenizer(m, PrependScheme::kAlways, false), "Hey friend"),
            (Strings{m + "Hey" + m + "friend"}));
  // "first" prepends only to the text that starts the input (original offset 0).
  EXPECT_EQ(pieces(*make_metaspace_pre_tokenizer(m, PrependScheme::kFirst, false), "Hey", 0), (Strings{m + "Hey"}));
  EXPECT_EQ(pieces(*make_metaspace_pre_tokenizer(m, PrependScheme::kFirst, false), "Hey", 5), (Strings{"Hey"}));
}

TEST(TokenizerPreTokenizer, DigitsAndSequence) {
  EXPECT_EQ(pieces(*make_digits_pre_tokenizer(true), "abc123d4"), (Strings{"abc", "1", "2", "3", "d", "4"}));
  EXPECT_EQ(pieces(*make_digits_pre_tokenizer(false), "abc123d4"), (Strings{"abc", "123", "d", "4"}));
  std::vector<std::unique_ptr<PreTokenizer>> steps;
  steps.push_back(make_split_pre_tokenizer(Regex::compile(" ", true), SplitBehavior::kRemoved, false));
  steps.push_back(make_digits_pre_tokenizer(true));
  EXPECT_EQ(pieces(*make_sequence_pre_tokenizer(std::move(steps)), "a1 b22"), (Strings{"a", "1", "b", "2", "2"}));
}

TEST(TokenizerPreTokenizer, PiecesKeepOriginalOffsets) {
  PreTokenizedString pts;
  pts.add_segment(NormalizedString("ab cd", 100));
  make_byte_level_pre_tokenizer(false, true)->pre_tokenize(pts);
  ASSERT_EQ(pts.pieces.size(), 2u);
  EXPECT_EQ(pts.original_span(pts.pieces[1], 0, 3), (Offset{102, 105}));
  // Metaspace copies the piece and rewrites it; offsets still point at the input.
  PreTokenizedString meta;
  meta.add_segment(NormalizedString("ab cd", 0));
  make_metaspace_pre_tokenizer("\xE2\x96\x81", PrependScheme::kAlways, true)->pre_tokenize(meta);
  ASSERT_EQ(meta.pieces.size(), 2u);
  EXPECT_EQ(meta.text(meta.pieces[1]), "\xE2\x96\x81" "cd");
  EXPECT_EQ(meta.original_span(meta.pieces[1], 0, 3), (Offset{2, 3}));  // ▁ stands for the space
  EXPECT_EQ(meta.original_span(meta.pieces[0], 0, 5), (Offset{0, 2}));  // prepended ▁ + "ab"
}

}  // namespace
}  // namespace distill::tokenizer
