// Aligning two tokenizations of the same text by byte positions (loss.cross_tokenizer align).
//
// A causal LM's row i has read tokens 0..i and predicts token i + 1. A student row and a teacher
// row are comparable when both have read exactly the same bytes: the student's token i and the
// teacher's token j end at the same byte. They are "exact" when, in addition, the next tokens on
// both sides cover the same bytes (the same string is predicted: the shared-vocabulary divergence
// applies); otherwise the two next-token distributions are compared by the sorted-probability loss.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "distill/tokenizer/tokenizer.h"
#include "distill/xtok/vocab_map.h"

namespace distill::xtok {

// ends[i]: the byte of `text` where token i ends, from the tokens' bytes (texts[id].bytes).
// A SentencePiece-style dummy prefix (a leading space the text lacks) is allowed and not counted.
// nullopt when the tokens do not spell the text (a normalizer changed it, or an unknown token).
std::optional<std::vector<std::int64_t>> token_ends(const std::vector<tokenizer::TokenId>& ids,
                                                    const std::vector<TokenText>& texts, std::string_view text);

// The same from encode offsets (Encoding::offsets), for tokenizers whose tokens do not spell the
// text: the end of token i, or -1 when a later token ends at the same byte (a character split into
// byte tokens: only the last of them has read the whole character).
std::vector<std::int64_t> offset_ends(const std::vector<tokenizer::Offset>& offsets);

struct Alignment {
  // Per student position i: the teacher position j whose token ends where student token i ends
  // (the last such j), or -1.
  std::vector<std::int64_t> teacher_pos;
  // Per student position: 1 when teacher_pos[i] >= 0 and tokens i + 1 and teacher_pos[i] + 1 both
  // exist and end at the same byte (they are the same string).
  std::vector<std::uint8_t> exact;
};

// student_ends / teacher_ends: nondecreasing byte positions (-1 entries never align), e.g. from
// token_ends. Linear time.
Alignment align_ends(const std::vector<std::int64_t>& student_ends, const std::vector<std::int64_t>& teacher_ends);

}  // namespace distill::xtok
