// Cross-tokenizer vocabularies (issue #7): what text each token id stands for, and which teacher
// tokens exist with the same bytes in the student's vocabulary. Used by loss.cross_tokenizer
// transplant (new embedding rows) and align (the shared set of the divergence). docs/cross-tokenizer.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "distill/tokenizer/tokenizer.h"

namespace distill::xtok {

// The bytes a token stands for in text. Byte-level BPE (GPT-2, OPT, Qwen, LLaMA-3): GPT-2's byte
// alphabet undone; SentencePiece-style (LLaMA-2, Mistral, .model files): U+2581 is a space and
// <0xXX> one raw byte; tiktoken: the ranks' bytes. Added tokens: their content, matched literally.
struct TokenText {
  std::string bytes;     // may be a partial UTF-8 character (byte tokens)
  bool special = false;  // an added special token (<|endoftext|>, <s>): control, not text
  bool present = false;  // false for ids that are holes in the vocabulary
};

// One entry per id in [0, tokenizer.vocab_size()).
std::vector<TokenText> token_texts(const tokenizer::Tokenizer& tokenizer);

// The pairing of two vocabularies by token bytes. Normal tokens pair with normal tokens of the same
// bytes, special tokens with special tokens of the same content; the teacher's eos/bos/pad/unk pair
// with the student's of the same role when their contents differ (</s> vs <|endoftext|>).
struct VocabMap {
  std::int64_t teacher_vocab = 0;  // tokenizer ids (the models may have more embedding rows)
  std::int64_t student_vocab = 0;
  std::vector<std::int32_t> teacher_to_student;  // per teacher id: the student id with its bytes, -1 none
  // The shared set, in teacher-id order: shared_teacher[k] and shared_student[k] are one string.
  // A student id appears at most once (the first teacher id wins when two teacher ids share bytes).
  std::vector<std::int64_t> shared_teacher, shared_student;
  std::string teacher_fingerprint, student_fingerprint;
};

VocabMap build_vocab_map(const tokenizer::Tokenizer& teacher, const tokenizer::Tokenizer& student);

}  // namespace distill::xtok
