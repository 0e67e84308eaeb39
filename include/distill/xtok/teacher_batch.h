// loss.cross_tokenizer align: the teacher's view of a student batch. The text under each row's
// spans (data/loader.h) is re-tokenized with the teacher's tokenizer, separators become the
// teacher's EOS, and each student column is aligned with the teacher column that has read the same
// bytes (xtok/alignment.h). Host-side work on one batch; the result goes to the device with it.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "distill/data/corpus.h"
#include "distill/data/loader.h"
#include "distill/tokenizer/tokenizer.h"
#include "distill/xtok/vocab_map.h"

namespace distill::xtok {

struct TeacherView {
  const data::Corpus* corpus = nullptr;         // the student's tokenized documents (with text)
  const tokenizer::Tokenizer* teacher = nullptr;
  std::vector<TokenText> student_texts, teacher_texts;
  std::int32_t student_eos = -1;                // the student's separator in packed rows
  std::int32_t teacher_eos = 0, teacher_pad = 0;
  std::int64_t max_teacher_len = 4096;          // teacher tokens per row at most (its context)
};

struct TeacherBatch {
  at::Tensor input_ids;       // (B, Tt) int64
  at::Tensor attention_mask;  // (B, Tt) int64 1/0
  at::Tensor teacher_pos;     // (B, T) int64, -1 = no teacher row read the same bytes
  at::Tensor exact;           // (B, T) bool
  at::Tensor uld_cols;        // (B, U) int64: the columns aligned but not exact (ULD), -1 padding;
                              // U = the largest count of a row rounded up to a multiple of 16
  // Host-side counts over the batch's student positions with a label, for the log.
  std::int64_t positions = 0, aligned = 0, exact_count = 0, failed_spans = 0;
};

TeacherBatch make_teacher_batch(const TeacherView& view, const data::Batch& batch);

}  // namespace distill::xtok
