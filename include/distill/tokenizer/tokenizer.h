// The one tokenizer interface (encode with byte offsets, decode, special tokens) and its factory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace distill::tokenizer {

using TokenId = std::int32_t;

// A byte range [begin, end) of the text given to encode(). Tokens made by the tokenizer itself
// (BOS/EOS added by add_special_tokens) have {0, 0}.
struct Offset {
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
  bool operator==(const Offset& o) const { return begin == o.begin && end == o.end; }
};

struct Encoding {
  std::vector<TokenId> ids;
  std::vector<Offset> offsets;  // one per id when EncodeOptions::offsets, else empty
};

struct EncodeOptions {
  // Add what the tokenizer's post-processor adds (e.g. LLaMA's BOS); off by default, like
  // `distill encode` without --add-special-tokens.
  bool add_special_tokens = false;
  // Fill Encoding::offsets. Costs a little; the ids are the same either way.
  bool offsets = false;
};

// A token matched in the text before pre-tokenization (HF "added tokens"), special or not.
struct AddedToken {
  TokenId id = 0;
  std::string content;
  bool special = false;      // skipped by decode(..., skip_special_tokens=true)
  bool lstrip = false;       // the match swallows whitespace on its left
  bool rstrip = false;       // ... and on its right
  bool single_word = false;  // only matches when not inside a word
  bool normalized = false;   // matched against the normalized text instead of the raw text
};

struct SpecialTokens {
  std::optional<TokenId> bos, eos, pad, unk;
};

// Thread safety: every const method may be called from many threads at once.
//
// Invalid UTF-8 input is not an error: each maximal invalid byte sequence is read as U+FFFD (the rule
// of Python's bytes.decode(errors="replace") and Rust's String::from_utf8_lossy), so the ids equal
// those HF gives for the Python string such a decode produces; offsets still index the bytes given.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  virtual Encoding encode(std::string_view text, const EncodeOptions& options = {}) const = 0;
  std::vector<TokenId> encode_ids(std::string_view text, bool add_special_tokens = false) const;
  // Encodes texts on `threads` threads (0: every core); results in input order.
  std::vector<Encoding> encode_batch(const std::vector<std::string_view>& texts,
                                     const EncodeOptions& options = {}, unsigned threads = 0) const;

  // Ids outside the vocabulary are skipped (as HF does).
  virtual std::string decode(const std::vector<TokenId>& ids, bool skip_special_tokens = false) const = 0;

  // Largest id + 1 over the model vocabulary and the added tokens: ids are < vocab_size().
  virtual std::size_t vocab_size() const = 0;
  // The token's string as stored in the vocabulary (byte-level BPE: GPT-2's byte alphabet).
  virtual std::optional<std::string> id_to_token(TokenId id) const = 0;
  virtual std::optional<TokenId> token_to_id(std::string_view token) const = 0;

  const SpecialTokens& special_tokens() const { return special_; }
  const std::vector<AddedToken>& added_tokens() const { return added_; }
  bool is_special(TokenId id) const;

  // "hf-bpe" (tokenizer.json), "gpt2-bpe" (vocab.json + merges.txt), "tiktoken", "sentencepiece".
  virtual std::string kind() const = 0;
  // The file the tokenizer was loaded from.
  const std::string& source() const { return source_; }
  // Hex digest of the files that define the tokenizer: equal fingerprints, equal tokenization.
  const std::string& fingerprint() const { return fingerprint_; }
  // True when decode(encode(x)) == x for every valid UTF-8 x that its normalizer leaves unchanged.
  virtual bool lossless() const = 0;

 protected:
  SpecialTokens special_;
  std::vector<AddedToken> added_;
  std::string source_;
  std::string fingerprint_;
};

// Loads a tokenizer from a model folder or a tokenizer file. In a folder the first present of
// tokenizer.json, tokenizer.model, vocab.json + merges.txt (or encoder.json + vocab.bpe),
// qwen.tiktoken is used; tokenizer_config.json and special_tokens_map.json beside it name the
// bos/eos/pad/unk tokens. Throws InputError (exit 3) naming the file for anything it cannot use.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path_or_dir);

}  // namespace distill::tokenizer
