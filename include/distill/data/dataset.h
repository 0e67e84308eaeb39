// A tokenized dataset folder opened for reading: meta.json plus memory-mapped shards (shards.h).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace distill::data {

using Json = nlohmann::ordered_json;

// Documents are numbered 0..num_documents()-1 across shards, in file order. Every accessor is
// const and thread-safe. A shard whose bytes contradict its header or meta.json is an InputError
// naming the file (at open, or when the damaged document is read); never an out-of-bounds read.
class Dataset {
 public:
  // Opens `dir` (a folder written by distill tokenize). InputError naming what is wrong.
  static std::shared_ptr<const Dataset> open(const std::string& dir);
  ~Dataset();
  Dataset(const Dataset&) = delete;
  Dataset& operator=(const Dataset&) = delete;

  const std::string& dir() const { return dir_; }
  const Json& meta() const { return meta_; }
  const std::string& build_key() const { return build_key_; }
  const std::string& tokenizer_fingerprint() const { return fingerprint_; }
  std::uint32_t token_bytes() const { return token_bytes_; }
  std::optional<std::int32_t> eos() const { return eos_; }
  std::optional<std::int32_t> pad() const { return pad_; }
  bool has_text() const { return has_text_; }
  const std::vector<std::string>& labels() const { return labels_; }

  std::int64_t num_documents() const { return num_documents_; }
  std::int64_t num_tokens() const { return num_tokens_; }

  std::int64_t length(std::int64_t doc) const;         // tokens
  std::int64_t tokens_before(std::int64_t doc) const;  // tokens of the documents before `doc`; doc may be num_documents()
  // Tokens [begin, end) of `doc`, widened to int64, into out[0 .. end-begin).
  void copy_tokens(std::int64_t doc, std::int64_t begin, std::int64_t end, std::int64_t* out) const;
  std::vector<std::int32_t> tokens(std::int64_t doc) const;
  // The text the document's tokens were made from (valid UTF-8); empty without keep_text or for
  // pretokenized documents. Points into the mapping: valid while the dataset lives.
  std::string_view text(std::int64_t doc) const;
  std::uint32_t source(std::int64_t doc) const;  // index into meta()["sources"]
  std::int32_t label(std::int64_t doc) const;    // index into labels(); -1 none
  std::uint8_t flags(std::int64_t doc) const;    // kFlag* of shards.h

 private:
  struct Mapping;
  struct Shard;
  Dataset() = default;
  const Shard& locate(std::int64_t doc, std::int64_t* local) const;

  std::string dir_;
  Json meta_;
  std::string build_key_, fingerprint_;
  std::uint32_t token_bytes_ = 2;
  std::optional<std::int32_t> eos_, pad_;
  bool has_text_ = false;
  std::vector<std::string> labels_;
  std::int64_t num_documents_ = 0, num_tokens_ = 0;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<std::int64_t> first_doc_;  // per shard, plus the total at the end
};

}  // namespace distill::data
