// Normalizers (NFC, NFD, Prepend, Replace, Strip, Sequence) applied to NormalizedString in place.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "distill/tokenizer/normalized_string.h"
#include "distill/tokenizer/regex.h"

namespace distill::tokenizer {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(NormalizedString& s) const = 0;
};

// `unicode_version`: see unicode.h (HF's tokenizers: unicode::kHfTokenizersVersion).
std::unique_ptr<Normalizer> make_unicode_normalizer(unicode::Form form, int unicode_version);
std::unique_ptr<Normalizer> make_prepend_normalizer(std::string prepend);
std::unique_ptr<Normalizer> make_replace_normalizer(Regex pattern, std::string content);
std::unique_ptr<Normalizer> make_strip_normalizer(bool left, bool right);
std::unique_ptr<Normalizer> make_sequence_normalizer(std::vector<std::unique_ptr<Normalizer>> steps);

}  // namespace distill::tokenizer
