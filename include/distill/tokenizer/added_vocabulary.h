// Added/special tokens found in text before pre-tokenization: leftmost-longest matching with HF's flags.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "distill/tokenizer/tokenizer.h"

namespace distill::tokenizer {

class AddedVocabulary {
 public:
  // `patterns[i]` is what tokens[i] is matched as: its content, or for a `normalized` token its
  // content after the tokenizer's normalizer (empty vector: the contents themselves).
  explicit AddedVocabulary(std::vector<AddedToken> tokens = {}, std::vector<std::string> patterns = {});

  struct Span {
    std::size_t begin, end;
    TokenId id;  // -1: text between added tokens
  };
  // Cuts `text` at the tokens of one set (normalized == false: matched in the raw text, true: in
  // normalized text), as HF's AddedVocabulary::find_matches: leftmost-longest matches,
  // single_word/lstrip/rstrip applied, gaps as id -1. Appends to `out`; "" gives one empty gap.
  void split(std::string_view text, bool normalized, std::vector<Span>& out) const;
  bool has(bool normalized) const { return !matchers_[normalized ? 1 : 0].nodes.empty(); }

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const AddedToken* find_id(TokenId id) const;
  std::optional<TokenId> find_content(std::string_view content) const;
  // What decode() prints for the token (HF: the normalized form for normalized tokens).
  const std::string& decode_text(const AddedToken& token) const;

 private:
  struct Node {
    std::vector<std::pair<unsigned char, std::uint32_t>> children;  // sorted by byte
    std::int32_t token = -1;                                        // index into tokens_
  };
  struct Matcher {
    std::vector<Node> nodes;  // nodes[0] is the root when not empty
    bool first_byte[256] = {};
  };
  void add_pattern(Matcher& m, std::string_view pattern, std::int32_t token);
  // Longest pattern starting at text[pos]: its length and token index, or {0, -1}.
  std::pair<std::size_t, std::int32_t> longest_at(const Matcher& m, std::string_view text, std::size_t pos) const;

  std::vector<AddedToken> tokens_;
  std::vector<std::string> patterns_;
  std::unordered_map<TokenId, std::size_t> by_id_;
  Matcher matchers_[2];
};

}  // namespace distill::tokenizer
