// Canonical Unicode normalization (NFC/NFD) at a chosen Unicode version, with HF's alignment changes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace distill::tokenizer::unicode {

// Unicode versions are written major*10+minor (9.0 -> 90).
// HF tokenizers normalizes with unicode-normalization-alignments 0.1.12, built on Unicode 9.0.0.
constexpr int kHfTokenizersVersion = 90;
// The newest version the built-in tables know (scripts/gen_unicode_tables.py).
int latest_version();

// One output character of a normalization and what it did to the input, as HF's NormalizedString
// records it: 0 replaces the next input character, +1 is inserted, -n replaces the next input
// character and also removes the n after it.
struct CharChange {
  char32_t c;
  int change;
};

enum class Form { kNFC, kNFD };

// True when normalizing `s` cannot change it (every character is a stable starter); cheap.
bool is_normalized_quick(std::string_view s, Form form, int version);

// Normalizes valid UTF-8 `s`, writing one entry per output character (cleared first). The changes
// follow the decomposition/reordering/recomposition order of unicode-normalization-alignments, so
// offsets computed from them match HF's.
void normalize(std::string_view s, Form form, int version, std::vector<CharChange>& out);

// Convenience: the normalized text alone.
std::string normalize(std::string_view s, Form form, int version);

// Canonical combining class of `c` under `version` (0 for characters assigned later).
int combining_class(char32_t c, int version);

// Unicode White_Space (what Rust's char::is_whitespace and regex \s mean).
bool is_white_space(char32_t c);

}  // namespace distill::tokenizer::unicode
