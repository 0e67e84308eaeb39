// Corpus: segments of datasets behind one document numbering, with the stream search packing uses.
#include "distill/data/corpus.h"

#include <algorithm>

#include "distill/util/errors.h"
#include "distill/util/sha256.h"

namespace distill::data {

void Corpus::add(std::shared_ptr<const Dataset> dataset, std::int64_t begin, std::int64_t end) {
  if (begin < 0 || end < begin || end > dataset->num_documents()) {
    throw Error(ExitCode::kInternal, "corpus: bad document range of " + dataset->dir());
  }
  if (segments_.empty()) {
    fingerprint_ = dataset->tokenizer_fingerprint();
  } else if (dataset->tokenizer_fingerprint() != fingerprint_) {
    throw InputError(dataset->dir(), "was tokenized with another tokenizer than " + segments_.front().dataset->dir() +
                                         " (fingerprint " + dataset->tokenizer_fingerprint() + " vs " + fingerprint_ + ")",
                     "tokenize every input with the same tokenizer");
  }
  if (begin == end) return;
  Segment s;
  s.dataset = std::move(dataset);
  s.begin = begin;
  s.end = end;
  s.token_base = s.dataset->tokens_before(begin);
  const std::int64_t tokens = s.dataset->tokens_before(end) - s.token_base;
  segments_.push_back(std::move(s));
  first_doc_.push_back(first_doc_.back() + (end - begin));
  first_token_.push_back(first_token_.back() + tokens);
}

Corpus Corpus::slice(std::int64_t begin, std::int64_t end) const {
  Corpus out;
  out.fingerprint_ = fingerprint_;
  for (std::int64_t d = begin; d < end;) {
    const std::size_t s = segment_of(d);
    const Segment& seg = segments_[s];
    const std::int64_t local = seg.begin + (d - first_doc_[s]);
    const std::int64_t run = std::min(end - d, seg.end - local);
    out.add(seg.dataset, local, local + run);
    d += run;
  }
  return out;
}

std::size_t Corpus::segment_of(std::int64_t doc) const {
  if (doc < 0 || doc >= num_documents()) {
    throw Error(ExitCode::kInternal, "corpus: document " + std::to_string(doc) + " out of range");
  }
  return static_cast<std::size_t>(std::upper_bound(first_doc_.begin(), first_doc_.end(), doc) - first_doc_.begin() - 1);
}

std::pair<const Dataset*, std::int64_t> Corpus::locate(std::int64_t doc) const {
  const std::size_t s = segment_of(doc);
  return {segments_[s].dataset.get(), segments_[s].begin + (doc - first_doc_[s])};
}

std::int64_t Corpus::length(std::int64_t doc) const {
  const auto [ds, d] = locate(doc);
  return ds->length(d);
}

std::int64_t Corpus::tokens_before(std::int64_t doc) const {
  if (doc == num_documents()) return num_tokens();
  const std::size_t s = segment_of(doc);
  const Segment& seg = segments_[s];
  return first_token_[s] + seg.dataset->tokens_before(seg.begin + (doc - first_doc_[s])) - seg.token_base;
}

void Corpus::copy_tokens(std::int64_t doc, std::int64_t begin, std::int64_t end, std::int64_t* out) const {
  const auto [ds, d] = locate(doc);
  ds->copy_tokens(d, begin, end, out);
}

std::string_view Corpus::text(std::int64_t doc) const {
  const auto [ds, d] = locate(doc);
  return ds->text(d);
}

std::int64_t Corpus::document_at_stream(std::int64_t pos, std::int64_t sep) const {
  // The last document whose stream start tokens_before(d) + d * sep is <= pos.
  std::int64_t lo = 0, hi = num_documents() - 1;
  while (lo < hi) {
    const std::int64_t mid = lo + (hi - lo + 1) / 2;
    if (tokens_before(mid) + mid * sep <= pos) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

std::optional<std::int32_t> Corpus::eos() const {
  return segments_.empty() ? std::nullopt : segments_.front().dataset->eos();
}

std::optional<std::int32_t> Corpus::pad() const {
  return segments_.empty() ? std::nullopt : segments_.front().dataset->pad();
}

bool Corpus::has_text() const {
  return std::all_of(segments_.begin(), segments_.end(), [](const Segment& s) { return s.dataset->has_text(); });
}

std::string Corpus::identity() const {
  std::string text;
  for (const auto& s : segments_) {
    text += s.dataset->build_key() + ":" + std::to_string(s.begin) + "-" + std::to_string(s.end) + ";";
  }
  return sha256_hex(text).substr(0, 16);
}

std::vector<std::shared_ptr<const Dataset>> Corpus::datasets() const {
  std::vector<std::shared_ptr<const Dataset>> out;
  for (const auto& s : segments_) {
    if (out.empty() || out.back() != s.dataset) out.push_back(s.dataset);
  }
  return out;
}

}  // namespace distill::data
