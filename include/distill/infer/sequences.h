// Token sequences from JSONL, the form `distill eval --data` and `distill init-student --calibration`
// read: {"input_ids": [...]} or {"<text_field>": "..."} per line, text encoded with a tokenizer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "distill/tokenizer/tokenizer.h"

namespace distill::infer {

// j (at "path:line" `where`) as a list of integers; anything else is an InputError naming `key`.
std::vector<std::int64_t> token_list(const nlohmann::json& j, const std::string& where, const char* key);

// text encoded by `tok`; without a tokenizer an InputError at `where` asking for one.
std::vector<std::int64_t> encode_text(const tokenizer::Tokenizer* tok, const std::string& text, bool specials,
                                      const std::string& where);

// Every line of `path` as token ids, at most `max_sequences` of them (0: all). `tok` may be null
// when every line holds input_ids.
std::vector<std::vector<std::int64_t>> read_sequences(const std::string& path, const tokenizer::Tokenizer* tok,
                                                      const std::string& text_field, std::size_t max_sequences = 0);

}  // namespace distill::infer
