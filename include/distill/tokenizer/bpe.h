// The BPE core shared by tokenizer.json, vocab.json+merges.txt and tiktoken: merge loop and word cache.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "distill/tokenizer/hash_map.h"
#include "distill/tokenizer/tokenizer.h"

namespace distill::tokenizer {

// A vocabulary/merges inconsistency; loaders turn it into an InputError naming the file.
class BpeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct BpeConfig {
  // Byte-level models (GPT-2, Qwen, LLaMA-3) spell their vocabulary in GPT-2's byte alphabet and
  // start a word from its bytes; the others (LLaMA-2 tokenizer.json) start from its characters.
  bool byte_level = false;
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;  // unknown characters become <0xNN> tokens when all bytes have one
  bool ignore_merges = false;  // a word that is itself in the vocabulary is one token
};

class BpeModel {
 public:
  // HF's BPE: `vocab` (token -> id as written in the file) and `merges` in rank order.
  static std::unique_ptr<BpeModel> from_merges(const std::vector<std::pair<std::string, TokenId>>& vocab,
                                               const std::vector<std::pair<std::string, std::string>>& merges,
                                               BpeConfig config);
  // tiktoken: raw token bytes -> rank, which is also the id. Any two adjacent parts whose
  // concatenation has a rank may merge, the lowest rank first. Every single byte needs a rank.
  static std::unique_ptr<BpeModel> from_ranks(const std::vector<std::pair<std::string, TokenId>>& ranks);

  ~BpeModel();

  // Appends the tokens of one pre-tokenized word (raw UTF-8 bytes): their ids and, when `lengths`
  // is given, how many bytes of `word` each covers. Thread-safe; repeated words hit a per-thread cache.
  void tokenize(std::string_view word, std::vector<TokenId>& ids, std::vector<std::uint32_t>* lengths) const;

  // The vocabulary string of an id (byte-level: GPT-2 alphabet; tiktoken: the raw bytes).
  std::optional<std::string> id_to_token(TokenId id) const;
  std::optional<TokenId> token_to_id(std::string_view token) const;
  // The raw bytes an id stands for (byte-level and tiktoken), or its string (character models).
  std::optional<std::string> id_to_bytes(TokenId id) const;
  // Largest id + 1.
  std::size_t id_limit() const { return id_to_token_.size(); }
  std::size_t size() const { return vocab_size_; }
  bool byte_level() const { return config_.byte_level || tiktoken_; }

 private:
  BpeModel() = default;
  void tokenize_chunk(std::string_view word, std::vector<TokenId>& ids, std::vector<std::uint32_t>* lengths) const;
  void merge_word(std::string_view word, std::vector<TokenId>& ids, std::vector<std::uint32_t>& lengths) const;

  BpeConfig config_;
  bool tiktoken_ = false;
  std::uint64_t uid_ = 0;                        // cache key: unique per model instance
  StringMap lookup_;                             // word bytes (raw for byte-level) -> id
  StringMap by_token_;                           // vocabulary string -> id
  std::vector<std::optional<std::string>> id_to_token_;
  std::size_t vocab_size_ = 0;
  struct MergeTarget {
    std::uint32_t rank;
    TokenId id;
  };
  U64Map<MergeTarget> merges_;                   // (left id, right id) -> merge
  std::vector<TokenId> byte_ids_;                // byte-level/tiktoken: id of each single byte (-1: none)
  std::vector<TokenId> byte_fallback_ids_;       // <0xNN> ids (-1: none)
  TokenId unk_id_ = -1;
  // SentencePiece-style vocabularies: when no token has "▁" after another character, no merge can
  // join across the place where a "▁" follows another character, so words are cut there first:
  // the same result, in short cacheable chunks.
  std::string word_boundary_;
};

}  // namespace distill::tokenizer
