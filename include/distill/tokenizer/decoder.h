// Decoders (ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence): token strings -> text.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "distill/tokenizer/pre_tokenizer.h"
#include "distill/tokenizer/regex.h"

namespace distill::tokenizer {

// HF's Decoder::decode_chain: rewrites the list of token strings.
class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// Runs `decoder` (if any) and joins the result; without a decoder HF joins with spaces.
std::string run_decoder(const Decoder* decoder, std::vector<std::string> tokens);

std::unique_ptr<Decoder> make_byte_level_decoder();
std::unique_ptr<Decoder> make_metaspace_decoder(char32_t replacement, PrependScheme scheme);
std::unique_ptr<Decoder> make_replace_decoder(Regex pattern, std::string content);
std::unique_ptr<Decoder> make_byte_fallback_decoder();
std::unique_ptr<Decoder> make_fuse_decoder();
std::unique_ptr<Decoder> make_strip_decoder(char32_t content, std::size_t start, std::size_t stop);
std::unique_ptr<Decoder> make_sequence_decoder(std::vector<std::unique_ptr<Decoder>> steps);
// tiktoken: token strings are raw bytes; concatenated and read as UTF-8 with U+FFFD for errors.
std::unique_ptr<Decoder> make_raw_bytes_decoder();

}  // namespace distill::tokenizer
