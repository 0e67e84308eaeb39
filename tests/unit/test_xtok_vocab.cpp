// Cross-tokenizer vocabularies and alignment: token bytes, the teacher -> student map on the real
// Qwen and GPT-2 files, byte alignment of hand-made tokenizations (CJK, emoji, digits, spaces).
// Expected ids come from the vocabulary files read in Python (json) and a direct Python BPE, not
// from the code under test; they are written next to each assertion.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "distill/xtok/alignment.h"
#include "distill/xtok/transplant.h"
#include "distill/xtok/vocab_map.h"
#include "tokenizer_data.h"

namespace distill {
namespace {

using testing::shared_tokenizer;
using tokenizer::TokenId;
using xtok::TokenText;

const xtok::VocabMap& qwen_to_gpt2() {
  static const xtok::VocabMap m = xtok::build_vocab_map(shared_tokenizer("qwen3"), shared_tokenizer("gpt2"));
  return m;
}

TEST(XtokVocab, TokenBytesUndoTheByteAlphabetAndMetaspace) {
  const auto gpt2 = xtok::token_texts(shared_tokenizer("gpt2"));
  ASSERT_EQ(gpt2.size(), 50257u);
  EXPECT_EQ(gpt2[262].bytes, " the");  // encoder.json: "\u0120the": 262
  EXPECT_EQ(gpt2[198].bytes, "\n");    // "\u010a": 198
  EXPECT_EQ(gpt2[50256].bytes, "<|endoftext|>");
  const auto llama = xtok::token_texts(shared_tokenizer("llama2"));
  EXPECT_EQ(llama[272].bytes, " the");  // tokenizer.json: "\u2581the": 272
  EXPECT_EQ(llama[13].bytes, "\n");     // "<0x0A>": 13
  EXPECT_TRUE(llama[1].special);        // <s>
  EXPECT_EQ(llama[1].bytes, "<s>");
}

TEST(XtokVocab, QwenToGpt2MapsTokensWithTheSameBytes) {
  const xtok::VocabMap& m = qwen_to_gpt2();
  EXPECT_EQ(m.teacher_vocab, static_cast<std::int64_t>(shared_tokenizer("qwen3").vocab_size()));
  EXPECT_EQ(m.student_vocab, 50257);
  // Python: qwen vocab["\u0120the"] = 279, gpt2["\u0120the"] = 262; "the" 1782 -> 1169; "\u0120" 220 -> 220;
  // "\u00e4\u00b8\u0143" (中) 15946 -> 40792; "\u0120\u0120" 256 is not a GPT-2 token.
  EXPECT_EQ(m.teacher_to_student[279], 262);
  EXPECT_EQ(m.teacher_to_student[1782], 1169);
  EXPECT_EQ(m.teacher_to_student[220], 220);
  EXPECT_EQ(m.teacher_to_student[15946], 40792);
  EXPECT_EQ(m.teacher_to_student[256], -1);
  EXPECT_EQ(m.teacher_to_student[151643], 50256);  // <|endoftext|> in both
  EXPECT_EQ(m.teacher_to_student[151644], -1);     // <|im_start|>: GPT-2 has none
  // Python: len([t for t in qwen_vocab if t in gpt2_encoder]) = 42256, plus <|endoftext|>.
  EXPECT_EQ(m.shared_teacher.size(), 42257u);
  ASSERT_EQ(m.shared_student.size(), m.shared_teacher.size());
  std::vector<bool> seen(50257, false);
  for (std::size_t k = 0; k < m.shared_student.size(); ++k) {
    const auto s = m.shared_student[k];
    ASSERT_FALSE(seen[static_cast<std::size_t>(s)]) << "student id " << s << " shared twice";
    seen[static_cast<std::size_t>(s)] = true;
    EXPECT_EQ(m.teacher_to_student[static_cast<std::size_t>(m.shared_teacher[k])], s);
  }
}

TEST(XtokVocab, TransplantPlanSpellsTeacherTokensWithStudentTokens) {
  const xtok::VocabMap& m = qwen_to_gpt2();
  const auto& qwen = shared_tokenizer("qwen3");
  const xtok::TransplantPlan plan = xtok::plan_transplant(qwen, shared_tokenizer("gpt2"), m, 151936);
  ASSERT_EQ(plan.sources.size(), 151936u);
  using Ids = std::vector<std::int32_t>;
  EXPECT_EQ(plan.sources[279], Ids({262}));            // one student token: copied
  EXPECT_EQ(plan.sources[256], Ids({220, 220}));       // "  " -> " " " "
  EXPECT_EQ(plan.sources[58695], Ids({40792, 32368, 121}));  // 中国; Python BPE on the GPT-2 files
  EXPECT_EQ(plan.sources[1540], Ids({171, 120}));      // bytes EF BC (half a character): GPT-2's byte tokens
  EXPECT_EQ(plan.sources[3648], Ids({140, 108, 140})); // bytes D0 B0 D0
  EXPECT_TRUE(plan.sources[151644].empty());           // <|im_start|>: the mean row
  EXPECT_TRUE(plan.sources[151935].empty());           // a padding row past the tokenizer
  EXPECT_EQ(plan.copied + plan.averaged + plan.fallback, 151936);
}

// ---------------------------------------------------------------- alignment, hand-made tokens

// A vocabulary of the given byte strings, id = index.
std::vector<TokenText> vocab(const std::vector<std::string>& tokens) {
  std::vector<TokenText> v;
  for (const auto& t : tokens) v.push_back({t, false, true});
  return v;
}

std::vector<TokenId> iota_ids(std::size_t n) {
  std::vector<TokenId> ids(n);
  for (std::size_t i = 0; i < n; ++i) ids[i] = static_cast<TokenId>(i);
  return ids;
}

TEST(XtokAlign, DifferentSplitsOfDigitsSpacesCjkAndEmoji) {
  // "12  中文 ok😀": bytes 1|2|sp|sp|E4 B8 AD|E6 96 87|sp|o|k|F0 9F 98 80 (17 bytes).
  const std::string text = "12  \xE4\xB8\xAD\xE6\x96\x87 ok\xF0\x9F\x98\x80";
  // The student splits digits, a character across tokens and the emoji into byte tokens.
  const auto student = vocab({"1", "2", " ", " \xE4\xB8", "\xAD", "\xE6\x96\x87", " ok", "\xF0\x9F\x98", "\x80"});
  const auto teacher = vocab({"12", "  ", "\xE4\xB8\xAD\xE6\x96\x87", " ok", "\xF0\x9F\x98\x80"});
  const auto se = xtok::token_ends(iota_ids(student.size()), student, text);
  const auto te = xtok::token_ends(iota_ids(teacher.size()), teacher, text);
  ASSERT_TRUE(se && te);
  EXPECT_EQ(*se, (std::vector<std::int64_t>{1, 2, 3, 6, 7, 10, 13, 16, 17}));
  EXPECT_EQ(*te, (std::vector<std::int64_t>{2, 4, 10, 13, 17}));
  const xtok::Alignment a = xtok::align_ends(*se, *te);
  // Student "2" and teacher "12" end at byte 2; the next tokens (" " vs "  ") differ: ULD.
  // After "文" both have read 10 bytes and both predict " ok": exact. After " ok" the student
  // predicts the emoji's first three bytes, the teacher the whole emoji: ULD. The end aligns.
  EXPECT_EQ(a.teacher_pos, (std::vector<std::int64_t>{-1, 0, -1, -1, -1, 2, 3, -1, 4}));
  EXPECT_EQ(a.exact, (std::vector<std::uint8_t>{0, 0, 0, 0, 0, 1, 0, 0, 0}));
}

TEST(XtokAlign, TokensThatDoNotSpellTheTextAreRefused) {
  const auto v = vocab({"ab", "c"});
  EXPECT_FALSE(xtok::token_ends({0, 1}, v, "abd"));   // a different byte
  EXPECT_FALSE(xtok::token_ends({0}, v, "abc"));      // text left over
  EXPECT_FALSE(xtok::token_ends({0, 1, 1}, v, "abc"));  // past the end
  EXPECT_FALSE(xtok::token_ends({7}, v, "ab"));       // an unknown id
  // SentencePiece's dummy prefix: "▁Hello" spells " Hello" for the text "Hello".
  const auto sp = vocab({" Hello", " world"});
  const auto e = xtok::token_ends({0, 1}, sp, "Hello world");
  ASSERT_TRUE(e);
  EXPECT_EQ(*e, (std::vector<std::int64_t>{5, 11}));
}

TEST(XtokAlign, OffsetEndsKeepOnlyTheLastTokenOfASplitCharacter) {
  // Three byte tokens of one 3-byte character share its offsets: only the last has read it.
  const std::vector<tokenizer::Offset> offsets = {{0, 3}, {0, 3}, {0, 3}, {3, 4}};
  EXPECT_EQ(xtok::offset_ends(offsets), (std::vector<std::int64_t>{-1, -1, 3, 4}));
  const auto a = xtok::align_ends({-1, -1, 3, 4}, {3, 4});
  EXPECT_EQ(a.teacher_pos, (std::vector<std::int64_t>{-1, -1, 0, 1}));
  EXPECT_EQ(a.exact, (std::vector<std::uint8_t>{0, 0, 1, 0}));
}

// ---------------------------------------------------------------- alignment, real tokenizers

TEST(XtokAlign, QwenAndGpt2OnDigits) {
  // GPT-2 "12345" -> "123" "45" (Python BPE: [10163, 2231]); Qwen splits digits one by one.
  const auto& gpt2 = shared_tokenizer("gpt2");
  const auto& qwen = shared_tokenizer("qwen3");
  const auto s_ids = gpt2.encode_ids("12345");
  ASSERT_EQ(s_ids, (std::vector<TokenId>{10163, 2231}));
  const auto se = xtok::token_ends(s_ids, xtok::token_texts(gpt2), "12345");
  const auto te = xtok::token_ends(qwen.encode_ids("12345"), xtok::token_texts(qwen), "12345");
  ASSERT_TRUE(se && te);
  EXPECT_EQ(*te, (std::vector<std::int64_t>{1, 2, 3, 4, 5}));
  const auto a = xtok::align_ends(*se, *te);
  EXPECT_EQ(a.teacher_pos, (std::vector<std::int64_t>{2, 4}));
  EXPECT_EQ(a.exact, (std::vector<std::uint8_t>{0, 0}));
}

TEST(XtokAlign, QwenAndGpt2AlignmentIsConsistentOnMixedText) {
  const auto& gpt2 = shared_tokenizer("gpt2");
  const auto& qwen = shared_tokenizer("qwen3");
  const auto s_text = xtok::token_texts(gpt2), t_text = xtok::token_texts(qwen);
  for (const std::string& text : {std::string("Price: 12345 dollars,   three spaces\n\n\tand tabs"),
                                 std::string("\xE4\xB8\xAD\xE6\x96\x87\xE5\x92\x8C English \xE6\xB7\xB7\xE5\x90\x88"),
                                 std::string("emoji \xF0\x9F\x98\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD and more  "),
                                 std::string("    indented code(x) == 42")}) {
    SCOPED_TRACE(text);
    const auto s_ids = gpt2.encode_ids(text), t_ids = qwen.encode_ids(text);
    const auto se = xtok::token_ends(s_ids, s_text, text);
    const auto te = xtok::token_ends(t_ids, t_text, text);
    ASSERT_TRUE(se && te);  // byte-level tokens spell the text exactly
    const auto a = xtok::align_ends(*se, *te);
    ASSERT_EQ(a.teacher_pos.size(), s_ids.size());
    EXPECT_EQ(a.teacher_pos.back(), static_cast<std::int64_t>(t_ids.size()) - 1);  // the whole text read by both
    std::size_t aligned = 0;
    for (std::size_t i = 0; i < s_ids.size(); ++i) {
      const auto j = a.teacher_pos[i];
      if (j < 0) {
        // No teacher token ends there.
        for (const auto e : *te) EXPECT_NE(e, (*se)[i]);
        continue;
      }
      ++aligned;
      EXPECT_EQ((*te)[static_cast<std::size_t>(j)], (*se)[i]);
      if (a.exact[i]) {
        EXPECT_EQ(s_text[static_cast<std::size_t>(s_ids[i + 1])].bytes,
                  t_text[static_cast<std::size_t>(t_ids[static_cast<std::size_t>(j) + 1])].bytes);
      } else if (i + 1 < s_ids.size() && static_cast<std::size_t>(j) + 1 < t_ids.size()) {
        EXPECT_NE(s_text[static_cast<std::size_t>(s_ids[i + 1])].bytes,
                  t_text[static_cast<std::size_t>(t_ids[static_cast<std::size_t>(j) + 1])].bytes);
      }
    }
    EXPECT_GT(aligned, s_ids.size() / 3);
  }
}

}  // namespace
}  // namespace distill
