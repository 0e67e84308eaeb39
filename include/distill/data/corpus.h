// A Corpus: document ranges of one or more tokenized datasets (same tokenizer) seen as one list;
// what a Loader reads (train: all of data.train or its head; validation: data.valid or the tail).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "distill/data/dataset.h"

namespace distill::data {

class Corpus {
 public:
  Corpus() = default;

  // Appends documents [begin, end) of `dataset`. A dataset made with another tokenizer than the
  // ones already added is an InputError naming both folders.
  void add(std::shared_ptr<const Dataset> dataset, std::int64_t begin, std::int64_t end);
  void add(std::shared_ptr<const Dataset> dataset) { add(dataset, 0, dataset->num_documents()); }

  // Documents [begin, end) as a corpus of their own.
  Corpus slice(std::int64_t begin, std::int64_t end) const;

  bool empty() const { return num_documents() == 0; }
  std::int64_t num_documents() const { return segments_.empty() ? 0 : first_doc_.back(); }
  std::int64_t num_tokens() const { return segments_.empty() ? 0 : first_token_.back(); }

  // Documents are numbered in corpus order, 0..num_documents()-1.
  std::int64_t length(std::int64_t doc) const;
  std::int64_t tokens_before(std::int64_t doc) const;  // doc may be num_documents()
  void copy_tokens(std::int64_t doc, std::int64_t begin, std::int64_t end, std::int64_t* out) const;
  std::string_view text(std::int64_t doc) const;
  // The dataset holding `doc` and its index there.
  std::pair<const Dataset*, std::int64_t> locate(std::int64_t doc) const;

  // The document whose part of the stream "doc 0, `sep` tokens, doc 1, `sep` tokens, ..." holds
  // stream position `pos` (its separator tokens count as its own). pos < tokens + docs * sep.
  std::int64_t document_at_stream(std::int64_t pos, std::int64_t sep) const;

  std::optional<std::int32_t> eos() const;
  std::optional<std::int32_t> pad() const;
  bool has_text() const;
  const std::string& tokenizer_fingerprint() const { return fingerprint_; }
  // Identifies the documents (datasets' build keys and ranges): equal identity, equal corpus.
  std::string identity() const;
  std::vector<std::shared_ptr<const Dataset>> datasets() const;

 private:
  struct Segment {
    std::shared_ptr<const Dataset> dataset;
    std::int64_t begin = 0, end = 0;
    std::int64_t token_base = 0;  // dataset->tokens_before(begin)
  };
  std::size_t segment_of(std::int64_t doc) const;

  std::vector<Segment> segments_;
  std::vector<std::int64_t> first_doc_{0}, first_token_{0};  // per segment, plus the totals at the end
  std::string fingerprint_;
};

}  // namespace distill::data
