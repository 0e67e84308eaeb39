// loss.cross_tokenizer transplant (issue #7): the student gets the teacher's vocabulary before
// training. Each new embedding (and LM-head) row starts from the student's own rows for the
// teacher token's string: a copy when the string is one student token, else (NewRows) the mean of
// the rows of the student's tokenization of it, or for the head the mean of all its rows.
// docs/cross-tokenizer.md.
#pragma once

#include <cstdint>
#include <vector>

#include "distill/models/causal_lm.h"
#include "distill/tokenizer/tokenizer.h"
#include "distill/xtok/vocab_map.h"

namespace distill::xtok {

struct TransplantPlan {
  // One entry per new row: the student ids whose rows are averaged (one id: an exact copy); empty:
  // the mean of all student rows (special tokens without a counterpart, padding rows).
  std::vector<std::vector<std::int32_t>> sources;
  std::int64_t copied = 0, averaged = 0, fallback = 0;  // rows by kind, for the log
};

// rows >= teacher.vocab_size(): the teacher model's embedding rows (models pad their vocabulary).
// A teacher token whose bytes are not valid UTF-8 (a piece of a character) is spelled with the
// student's single-byte tokens where it has them.
TransplantPlan plan_transplant(const tokenizer::Tokenizer& teacher, const tokenizer::Tokenizer& student,
                               const VocabMap& map, std::int64_t rows);

// The student's spec with `rows` vocabulary rows and the teacher's special-token ids in its
// config.json (what a model of the teacher's tokenizer says).
models::ModelSpec transplanted_spec(models::ModelSpec spec, std::int64_t rows, const tokenizer::SpecialTokens& teacher);

// How rows of teacher tokens that are not one student token start (loss.transplant_new_rows).
enum class NewRows {
  kPieces,  // the mean of the student's rows for the token's pieces, in the embedding and the head
  // The LM head's rows start at the mean of all its rows (Hewitt 2021), so new tokens start with
  // low output probability instead of the mean logit of frequent pieces; an untied input embedding
  // keeps the pieces' mean. With a tied head the one matrix takes the head's rule.
  kMean,
};

// A new model: the student's weights, with embedding and LM head rebuilt per `plan` (on the
// student's device and dtype; parameters require grad as the student's do).
models::CausalLM transplant(models::CausalLMImpl& student, const TransplantPlan& plan,
                            const tokenizer::SpecialTokens& teacher_special, NewRows new_rows);

}  // namespace distill::xtok
