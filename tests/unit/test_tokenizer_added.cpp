// Added tokens: leftmost-longest matching and the lstrip/rstrip/single_word flags, as HF splits.
#include <gtest/gtest.h>

#include "distill/tokenizer/added_vocabulary.h"

namespace distill::tokenizer {
namespace {

AddedToken token(TokenId id, std::string content) {
  AddedToken t;
  t.id = id;
  t.content = std::move(content);
  t.special = true;
  return t;
}

std::vector<std::tuple<std::size_t, std::size_t, TokenId>> split(const AddedVocabulary& v, const std::string& text,
                                                                  bool normalized = false) {
  std::vector<AddedVocabulary::Span> spans;
  v.split(text, normalized, spans);
  std::vector<std::tuple<std::size_t, std::size_t, TokenId>> out;
  for (const auto& s : spans) out.emplace_back(s.begin, s.end, s.id);
  return out;
}

using Spans = std::vector<std::tuple<std::size_t, std::size_t, TokenId>>;

TEST(TokenizerAddedTokens, LeftmostLongest) {
  AddedVocabulary v({token(10, "<a>"), token(11, "<a><b>"), token(12, "b>")});
  EXPECT_EQ(split(v, "x<a><b>y"), (Spans{{0, 1, -1}, {1, 7, 11}, {7, 8, -1}}));
  EXPECT_EQ(split(v, "<a>"), (Spans{{0, 3, 10}}));
  EXPECT_EQ(split(v, "<a><a>"), (Spans{{0, 3, 10}, {3, 6, 10}}));
  EXPECT_EQ(split(v, "plain"), (Spans{{0, 5, -1}}));
  EXPECT_EQ(split(v, ""), (Spans{{0, 0, -1}}));
  EXPECT_FALSE(v.has(true));
  EXPECT_TRUE(v.has(false));
}

TEST(TokenizerAddedTokens, StripFlagsSwallowWhitespace) {
  AddedToken l = token(20, "<m>");
  l.lstrip = true;
  AddedToken r = token(21, "<n>");
  r.rstrip = true;
  AddedVocabulary v({l, r});
  EXPECT_EQ(split(v, "a  <m> b"), (Spans{{0, 1, -1}, {1, 6, 20}, {6, 8, -1}}));
  EXPECT_EQ(split(v, "a <n>\xE3\x80\x80 b"), (Spans{{0, 2, -1}, {2, 9, 21}, {9, 10, -1}}));
  // lstrip never reaches back over the previous token.
  EXPECT_EQ(split(v, "<n> <m>"), (Spans{{0, 4, 21}, {4, 7, 20}}));
}

TEST(TokenizerAddedTokens, SingleWordNeedsWordBoundaries) {
  AddedToken w = token(30, "cat");
  w.single_word = true;
  AddedVocabulary v({w});
  EXPECT_EQ(split(v, "a cat b"), (Spans{{0, 2, -1}, {2, 5, 30}, {5, 7, -1}}));
  EXPECT_EQ(split(v, "concat"), (Spans{{0, 6, -1}}));
  EXPECT_EQ(split(v, "cats"), (Spans{{0, 4, -1}}));
  EXPECT_EQ(split(v, "\xC3\xA9" "cat"), (Spans{{0, 5, -1}}));  // é is a word character
}

TEST(TokenizerAddedTokens, NormalizedTokensMatchTheirNormalizedForm) {
  AddedToken n = token(40, "Hi there");
  n.normalized = true;
  n.special = false;
  AddedVocabulary v({n}, {"Hi\xE2\x96\x81there"});
  EXPECT_TRUE(v.has(true));
  EXPECT_FALSE(v.has(false));
  EXPECT_EQ(split(v, "Hi there"), (Spans{{0, 8, -1}}));
  EXPECT_EQ(split(v, "xHi\xE2\x96\x81there", true), (Spans{{0, 1, -1}, {1, 11, 40}}));
  EXPECT_EQ(v.decode_text(*v.find_id(40)), "Hi\xE2\x96\x81there");
  EXPECT_EQ(v.find_content("Hi there"), 40);
}

}  // namespace
}  // namespace distill::tokenizer
