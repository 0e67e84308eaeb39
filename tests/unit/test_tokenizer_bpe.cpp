// BPE core: merge order, ties, unknown characters (byte fallback, <unk>, fused, dropped),
// ignore_merges, subword prefixes, tiktoken rank semantics, vocabulary errors, the word cache.
#include <gtest/gtest.h>

#include "distill/tokenizer/bpe.h"

namespace distill::tokenizer {
namespace {

using Vocab = std::vector<std::pair<std::string, TokenId>>;
using Merges = std::vector<std::pair<std::string, std::string>>;

struct Tokens {
  std::vector<TokenId> ids;
  std::vector<std::uint32_t> lengths;
};

Tokens run(const BpeModel& m, std::string_view word) {
  Tokens t;
  m.tokenize(word, t.ids, &t.lengths);
  return t;
}

TEST(TokenizerBpe, LowestRankMergesFirst) {
  const Vocab vocab = {{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"bc", 4}, {"abc", 5}};
  // (b, c) outranks (a, b): "abc" becomes a + bc, and a+bc is no merge.
  auto m = BpeModel::from_merges(vocab, Merges{{"b", "c"}, {"a", "b"}}, {});
  EXPECT_EQ(run(*m, "abc").ids, (std::vector<TokenId>{0, 4}));
  auto m2 = BpeModel::from_merges(vocab, Merges{{"a", "b"}, {"ab", "c"}, {"b", "c"}}, {});
  EXPECT_EQ(run(*m2, "abc").ids, (std::vector<TokenId>{5}));
  EXPECT_EQ(run(*m2, "abc").lengths, (std::vector<std::uint32_t>{3}));
}

TEST(TokenizerBpe, EqualRanksMergeLeftmostFirst) {
  auto m = BpeModel::from_merges({{"a", 0}, {"aa", 1}}, Merges{{"a", "a"}}, {});
  EXPECT_EQ(run(*m, "aaa").ids, (std::vector<TokenId>{1, 0}));
  EXPECT_EQ(run(*m, "aaaa").ids, (std::vector<TokenId>{1, 1}));
  // A long word is not cached and must give the same answer every time.
  const std::string long_word(1001, 'a');
  const Tokens once = run(*m, long_word), twice = run(*m, long_word);
  EXPECT_EQ(once.ids, twice.ids);
  EXPECT_EQ(once.ids.size(), 501u);
  EXPECT_EQ(once.ids.back(), 0);
}

TEST(TokenizerBpe, ByteFallbackForUnknownCharacters) {
  Vocab vocab = {{"x", 0}, {"<unk>", 1}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab.emplace_back(name, 2 + b);
  }
  BpeConfig cfg;
  cfg.byte_fallback = true;
  cfg.unk_token = "<unk>";
  auto m = BpeModel::from_merges(vocab, {}, cfg);
  const Tokens t = run(*m, "x\xE2\x82\xAC");  // x €
  EXPECT_EQ(t.ids, (std::vector<TokenId>{0, 2 + 0xE2, 2 + 0x82, 2 + 0xAC}));
  EXPECT_EQ(t.lengths, (std::vector<std::uint32_t>{1, 1, 1, 1}));
}

TEST(TokenizerBpe, UnknownCharactersFuseOrNot) {
  const Vocab vocab = {{"x", 0}, {"<unk>", 1}};
  BpeConfig cfg;
  cfg.unk_token = "<unk>";
  auto separate = BpeModel::from_merges(vocab, {}, cfg);
  EXPECT_EQ(run(*separate, "x\xC3\xA9\xC3\xA9x").ids, (std::vector<TokenId>{0, 1, 1, 0}));
  cfg.fuse_unk = true;
  auto fused = BpeModel::from_merges(vocab, {}, cfg);
  const Tokens t = run(*fused, "x\xC3\xA9\xC3\xA9x");
  EXPECT_EQ(t.ids, (std::vector<TokenId>{0, 1, 0}));
  EXPECT_EQ(t.lengths, (std::vector<std::uint32_t>{1, 4, 1}));
  // Without <unk> and byte fallback HF drops the character.
  auto dropping = BpeModel::from_merges(vocab, {}, {});
  EXPECT_EQ(run(*dropping, "x\xC3\xA9x").ids, (std::vector<TokenId>{0, 0}));
}

TEST(TokenizerBpe, IgnoreMergesTakesWholeWords) {
  const Vocab vocab = {{"a", 0}, {"b", 1}, {"ab", 2}, {"ba", 3}, {"aba", 4}};
  const Merges merges = {{"a", "b"}};
  EXPECT_EQ(run(*BpeModel::from_merges(vocab, merges, {}), "aba").ids, (std::vector<TokenId>{2, 0}));
  BpeConfig cfg;
  cfg.ignore_merges = true;
  EXPECT_EQ(run(*BpeModel::from_merges(vocab, merges, cfg), "aba").ids, (std::vector<TokenId>{4}));
}

TEST(TokenizerBpe, ContinuingSubwordPrefixAndSuffix) {
  const Vocab vocab = {{"u", 0}, {"##n", 1}, {"##d", 2}, {"un", 3}, {"und", 4}, {"d</w>", 5}, {"##d</w>", 6}, {"und</w>", 7}};
  BpeConfig cfg;
  cfg.continuing_subword_prefix = "##";
  const Merges merges = {{"u", "##n"}, {"un", "##d"}};
  auto m = BpeModel::from_merges(vocab, merges, cfg);
  EXPECT_EQ(run(*m, "und").ids, (std::vector<TokenId>{4}));
  cfg.end_of_word_suffix = "</w>";
  auto s = BpeModel::from_merges(vocab, Merges{{"u", "##n"}, {"un", "##d</w>"}}, cfg);
  EXPECT_EQ(run(*s, "und").ids, (std::vector<TokenId>{7}));
}

TEST(TokenizerBpe, ByteLevelVocabulariesReadRawBytes) {
  // GPT-2 alphabet: the space byte is written 'Ġ' (U+0120).
  const Vocab vocab = {{"h", 0}, {"i", 1}, {"\xC4\xA0", 2}, {"\xC4\xA0h", 3}, {"\xC4\xA0hi", 4}};
  BpeConfig cfg;
  cfg.byte_level = true;
  auto m = BpeModel::from_merges(vocab, Merges{{"\xC4\xA0", "h"}, {"\xC4\xA0h", "i"}}, cfg);
  EXPECT_EQ(run(*m, " hi").ids, (std::vector<TokenId>{4}));
  EXPECT_EQ(*m->id_to_token(4), "\xC4\xA0hi");
  EXPECT_EQ(*m->id_to_bytes(4), " hi");
}

TEST(TokenizerBpe, TiktokenMergesAnyRankedPair) {
  std::vector<std::pair<std::string, TokenId>> ranks;
  for (int b = 0; b < 256; ++b) ranks.emplace_back(std::string(1, static_cast<char>(b)), b);
  ranks.emplace_back("bc", 256);
  ranks.emplace_back("ab", 257);
  ranks.emplace_back("abc", 258);
  ranks.emplace_back("abcd", 259);
  auto m = BpeModel::from_ranks(ranks);
  // bc (256) before ab (257); then a+bc is "abc", which has a rank: tiktoken merges it although
  // no merge list names (a, bc).
  EXPECT_EQ(run(*m, "abcx").ids, (std::vector<TokenId>{258, 'x'}));
  EXPECT_EQ(run(*m, "abcd").ids, (std::vector<TokenId>{259}));  // a whole-word rank wins at once
  EXPECT_EQ(run(*m, "zab").ids, (std::vector<TokenId>{'z', 257}));
}

TEST(TokenizerBpe, InconsistentFilesAreErrors) {
  const Vocab vocab = {{"a", 0}, {"b", 1}, {"ab", 2}};
  EXPECT_THROW(BpeModel::from_merges(vocab, Merges{{"a", "c"}}, {}), BpeError);
  EXPECT_THROW(BpeModel::from_merges(vocab, Merges{{"b", "a"}}, {}), BpeError);  // "ba" is not in the vocab
  BpeConfig cfg;
  cfg.unk_token = "<unk>";
  EXPECT_THROW(BpeModel::from_merges(vocab, {}, cfg), BpeError);
  try {
    BpeModel::from_merges(vocab, Merges{{"a", "b"}, {"a", "zz"}}, {});
    FAIL() << "expected BpeError";
  } catch (const BpeError& e) {
    EXPECT_NE(std::string(e.what()).find("merge #2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'zz'"), std::string::npos) << e.what();
  }
  std::vector<std::pair<std::string, TokenId>> ranks = {{"a", 0}};
  EXPECT_THROW(BpeModel::from_ranks(ranks), BpeError);  // bytes without a rank
}

// Cutting SentencePiece-style words before "▁" (when the vocabulary allows it) changes no result:
// compare with the same model made uncuttable by one extra token that has "▁" after a letter.
TEST(TokenizerBpe, MarkerCutsAreInvisible) {
  const std::string m = "\xE2\x96\x81";
  Vocab vocab = {{m, 0}, {"a", 1}, {"b", 2}, {m + "a", 3}, {m + "b", 4}, {"ab", 5}, {m + "ab", 6}, {m + m, 7}, {m + m + "a", 8}};
  const Merges merges = {{m, "a"}, {"a", "b"}, {m + "a", "b"}, {m, m}, {m + m, "a"}, {m, "b"}};
  auto cut = BpeModel::from_merges(vocab, merges, {});
  vocab.emplace_back("z" + m, 9);
  auto whole = BpeModel::from_merges(vocab, merges, {});
  std::uint32_t seed = 12345;
  for (int n = 0; n < 500; ++n) {
    std::string word;
    const int len = 1 + n % 23;
    for (int k = 0; k < len; ++k) {
      seed = seed * 1664525u + 1013904223u;
      const char* parts[] = {"a", "b", "\xE2\x96\x81"};
      word += parts[(seed >> 16) % 3];
    }
    const Tokens x = run(*cut, word), y = run(*whole, word);
    ASSERT_EQ(x.ids, y.ids) << word;
    ASSERT_EQ(x.lengths, y.lengths) << word;
  }
}

TEST(TokenizerBpe, CacheGivesTheSameAnswer) {
  const Vocab vocab = {{"a", 0}, {"b", 1}, {"ab", 2}, {"abab", 3}};
  auto m = BpeModel::from_merges(vocab, Merges{{"a", "b"}, {"ab", "ab"}}, {});
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(run(*m, "ababa").ids, (std::vector<TokenId>{3, 0}));
    EXPECT_EQ(run(*m, "ababa").lengths, (std::vector<std::uint32_t>{4, 1}));
  }
  // Two models do not share cache entries.
  auto other = BpeModel::from_merges(vocab, Merges{{"a", "b"}}, {});
  EXPECT_EQ(run(*other, "ababa").ids, (std::vector<TokenId>{2, 2, 0}));
  EXPECT_EQ(run(*m, "ababa").ids, (std::vector<TokenId>{3, 0}));
}

}  // namespace
}  // namespace distill::tokenizer
