// Text being normalized, with the original byte range each of its bytes came from (HF's alignments).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "distill/tokenizer/tokenizer.h"
#include "distill/tokenizer/unicode.h"

namespace distill::tokenizer {

// Starts as an unchanged piece of the original text (no per-byte table: byte i maps to the character
// around original byte base+i). Edits switch to an explicit table with one [begin, end) per byte, with
// the rules of HF's NormalizedString::transform_range, so offsets come out as HF computes them.
class NormalizedString {
 public:
  NormalizedString() = default;
  NormalizedString(std::string_view original_piece, std::uint32_t base) : text_(original_piece), base_(base) {}

  const std::string& text() const { return text_; }
  bool empty() const { return text_.empty(); }
  std::size_t size() const { return text_.size(); }

  // The original range of normalized bytes [begin, end): from the first byte's range start to the
  // last byte's range end (HF's expand_alignments). Requires begin < end.
  Offset original_span(std::size_t begin, std::size_t end) const;
  // Where this piece starts in the original (HF's offsets_original().0).
  std::uint32_t original_begin() const { return aligned_ ? (align_.empty() ? base_ : align_[0].begin) : base_; }

  // Replaces the whole text by `dest`: each entry's change says which input characters it consumed.
  void transform(const std::vector<unicode::CharChange>& dest);
  // Replaces every [begin, end) of `matches` (sorted, disjoint) by `content` (HF's replace()).
  void replace(const std::vector<std::pair<std::size_t, std::size_t>>& matches, std::string_view content);
  // Prepends `s` before the first character (no-op on empty text), as HF's prepend().
  void prepend(std::string_view s);
  // Removes leading/trailing White_Space characters (HF's lrstrip()).
  void strip(bool left, bool right);
  // The bytes [begin, end) as their own string (begin/end on character boundaries).
  NormalizedString slice(std::size_t begin, std::size_t end) const;

 private:
  Offset identity_span_of_byte(std::size_t i) const;
  void make_explicit();

  std::string text_;
  std::uint32_t base_ = 0;
  bool aligned_ = false;       // align_ is authoritative
  std::vector<Offset> align_;  // one per byte of text_ when aligned_
};

}  // namespace distill::tokenizer
