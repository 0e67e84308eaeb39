// One build's work, from documents to shards: augmentation, batch encoding, the length rule, labels,
// the report and meta.json. Private to src/data (build.cpp drives it).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "distill/data/augment.h"
#include "distill/data/documents.h"
#include "distill/data/report.h"
#include "distill/data/shards.h"
#include "distill/data/sources.h"
#include "distill/data/tokenize.h"

namespace distill::data {

// The options that decide a dataset's content (part of the build key and of meta.json).
Json content_options(const BuildOptions& o);
// The sources as meta.json lists them (and the build key hashes them).
Json sources_json(const std::vector<InputFile>& files);

// The state of one build: counts, report, label table, writer. run() once, then meta().
class Builder {
 public:
  Builder(const tokenizer::Tokenizer& tok, const BuildOptions& o, const std::vector<InputFile>& files,
          const std::string& dir);
  void run();
  Json meta(const std::string& build_key) const;

  std::int64_t documents() const { return documents_; }
  const SkipCounts& counts() const { return counts_; }
  const DataReport& report() const { return report_; }
  std::int64_t split_pieces() const { return split_pieces_; }
  std::int64_t cut_tokens() const { return cut_tokens_; }

 private:
  void augment(Augmenter& augmenter, std::vector<Document>& batch);
  void encode_and_write(std::vector<Document>& batch);
  std::int32_t label_id(const std::optional<std::string>& label);
  // One document through the length rule into the writer.
  void write(const Document& d, const std::vector<std::int32_t>& ids, bool augmented);
  void emit(DocumentRecord r, const std::int32_t* ids, std::size_t n, const char* text, std::size_t text_bytes);

  const tokenizer::Tokenizer& tok_;
  const BuildOptions& o_;
  const std::vector<InputFile>& files_;
  SkipCounts counts_;
  DataReport report_;
  ShardWriter writer_;
  std::vector<ShardSummary> shards_;
  std::vector<std::string> labels_;
  std::map<std::string, std::int32_t> label_ids_;
  std::vector<std::int64_t> per_source_;
  std::set<std::size_t> augmented_flag_;  // positions in the current batch made by augmentation
  std::int64_t documents_ = 0, tokens_ = 0, augmented_ = 0, pretokenized_ = 0, split_pieces_ = 0, cut_tokens_ = 0;
};

// The summary lines (over-limit documents, report warnings, skip counts) in the log.
void log_summary(const Builder& b, const BuildOptions& o, double seconds, const std::string& dir);

}  // namespace distill::data
