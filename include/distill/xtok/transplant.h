// loss.cross_tokenizer transplant (issue #7): the student gets the teacher's vocabulary before
// training. Each new embedding (and LM-head) row starts from the student's own rows for the
// teacher token's string: a copy when the string is one student token, else (NewRows) the mean of
// the rows of the student's tokenization of it, or for the head the mean of all its rows, or a row
// below it whose logit starts low on training text. docs/cross-tokenizer.md.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "distill/data/corpus.h"
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
  // The head's new rows start at mean_row - delta * hbar / |hbar|^2, hbar the mean of the final
  // hidden states (the head's input) on a probe of training text: at a hidden state h their logit
  // is the mean row's minus delta * (h . hbar) / |hbar|^2, i.e. about delta lower on that text.
  // delta >= 0 minimises the probe's cross-entropy (new rows' probability ~ their share of the
  // probe's next tokens). Rows copied from one student token are unchanged; a tied embedding follows
  // the head, an untied input embedding keeps the pieces' mean.
  kLow,
};

// What kLow measured on its probe (for the log).
struct LowRowsReport {
  std::int64_t positions = 0;    // probe positions with a next token
  std::int64_t new_targets = 0;  // of them, next tokens whose row is new (not copied)
  double delta = 0.0;            // how far below the mean row's logit, at h = hbar
  double mass_mean = 0.0;        // mean softmax mass on the new rows with them at the mean row
  double mass_low = 0.0;         // the same after lowering them
  double below_zero = 0.0;       // share of probe positions with h . hbar < 0 (there they rise)
};

// kLow's probe: up to `max_tokens` tokens of `corpus` as rows of `seq_len` (int64, on the host):
// documents spread over the corpus (every k-th), joined by its EOS when it has one, in corpus
// order (independent of the data order, which it does not touch).
at::Tensor probe_rows(const data::Corpus& corpus, std::int64_t seq_len, std::int64_t max_tokens = 4096);

// A new model: the student's weights, with embedding and LM head rebuilt per `plan` (on the
// student's device and dtype; parameters require grad as the student's do). kLow needs `probe`
// ((N, T) teacher token ids, probe_rows) and fills `report` when given.
models::CausalLM transplant(models::CausalLMImpl& student, const TransplantPlan& plan,
                            const tokenizer::SpecialTokens& teacher_special, NewRows new_rows,
                            const at::Tensor& probe = {}, LowRowsReport* report = nullptr);

}  // namespace distill::xtok
