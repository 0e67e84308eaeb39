// NormalizedString edits, each keeping the per-byte original ranges the way HF's transform_range does.
#include "distill/tokenizer/normalized_string.h"

#include "distill/tokenizer/utf8.h"

namespace distill::tokenizer {
namespace {

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

Offset NormalizedString::identity_span_of_byte(std::size_t i) const {
  std::size_t b = i, e = i + 1;
  while (b > 0 && is_continuation(text_[b])) --b;
  while (e < text_.size() && is_continuation(text_[e])) ++e;
  return {base_ + static_cast<std::uint32_t>(b), base_ + static_cast<std::uint32_t>(e)};
}

Offset NormalizedString::original_span(std::size_t begin, std::size_t end) const {
  if (aligned_) return {align_[begin].begin, align_[end - 1].end};
  return {identity_span_of_byte(begin).begin, identity_span_of_byte(end - 1).end};
}

void NormalizedString::make_explicit() {
  if (aligned_) return;
  align_.resize(text_.size());
  std::size_t i = 0;
  while (i < text_.size()) {
    const std::size_t n = utf8::sequence_length(static_cast<unsigned char>(text_[i]));
    const Offset span{base_ + static_cast<std::uint32_t>(i), base_ + static_cast<std::uint32_t>(i + n)};
    for (std::size_t k = 0; k < n && i + k < text_.size(); ++k) align_[i + k] = span;
    i += n;
  }
  aligned_ = true;
}

void NormalizedString::transform(const std::vector<unicode::CharChange>& dest) {
  make_explicit();
  const std::uint32_t start = original_begin();
  std::string text;
  std::vector<Offset> align;
  text.reserve(text_.size());
  align.reserve(text_.size());
  std::size_t offset = 0;  // byte position in the old text
  auto consume_char = [&]() {
    if (offset < text_.size()) offset += utf8::sequence_length(static_cast<unsigned char>(text_[offset]));
  };
  for (const auto& item : dest) {
    Offset span;
    if (item.change > 0) {
      // Inserted: shares the range of the byte before it ((0, 0) of this piece at its very start).
      span = offset == 0 ? Offset{start, start} : align_[offset - 1];
    } else {
      span = offset < align_.size() ? align_[offset] : (align_.empty() ? Offset{start, start} : align_.back());
      consume_char();
      for (int k = 0; k < -item.change; ++k) consume_char();
    }
    const std::size_t before = text.size();
    utf8::append(text, item.c);
    align.insert(align.end(), text.size() - before, span);
  }
  text_ = std::move(text);
  align_ = std::move(align);
}

void NormalizedString::replace(const std::vector<std::pair<std::size_t, std::size_t>>& matches,
                               std::string_view content) {
  if (matches.empty()) return;
  make_explicit();
  const std::uint32_t start = original_begin();
  std::string text;
  std::vector<Offset> align;
  text.reserve(text_.size() + matches.size() * content.size());
  align.reserve(text.capacity());
  std::size_t last = 0;
  for (const auto& [b, e] : matches) {
    text.append(text_, last, b - last);
    align.insert(align.end(), align_.begin() + static_cast<std::ptrdiff_t>(last),
                 align_.begin() + static_cast<std::ptrdiff_t>(b));
    // Every replacement byte takes the range of the last byte it replaces.
    const Offset span = e == 0 ? Offset{start, start} : align_[e - 1];
    text.append(content);
    align.insert(align.end(), content.size(), span);
    last = e;
  }
  text.append(text_, last, std::string::npos);
  align.insert(align.end(), align_.begin() + static_cast<std::ptrdiff_t>(last), align_.end());
  text_ = std::move(text);
  align_ = std::move(align);
}

void NormalizedString::prepend(std::string_view s) {
  if (text_.empty() || s.empty()) return;
  make_explicit();
  // The prepended characters replace the first character, which is then inserted again: all of
  // them take its range.
  const Offset span = align_[0];
  text_.insert(0, s);
  align_.insert(align_.begin(), s.size(), span);
}

void NormalizedString::strip(bool left, bool right) {
  std::size_t b = 0, e = text_.size();
  if (left) {
    while (b < e) {
      std::size_t i = b;
      const char32_t c = utf8::next(text_, i);
      if (!unicode::is_white_space(c)) break;
      b = i;
    }
  }
  if (right) {
    while (e > b) {
      std::size_t i = e - 1;
      while (i > b && is_continuation(text_[i])) --i;
      std::size_t j = i;
      if (!unicode::is_white_space(utf8::next(text_, j))) break;
      e = i;
    }
  }
  if (b == 0 && e == text_.size()) return;
  *this = slice(b, e);
}

NormalizedString NormalizedString::slice(std::size_t begin, std::size_t end) const {
  NormalizedString out;
  out.text_.assign(text_, begin, end - begin);
  if (aligned_) {
    out.aligned_ = true;
    out.align_.assign(align_.begin() + static_cast<std::ptrdiff_t>(begin),
                      align_.begin() + static_cast<std::ptrdiff_t>(end));
    out.base_ = begin < align_.size() ? align_[begin].begin : (align_.empty() ? base_ : align_.back().end);
  } else {
    out.base_ = base_ + static_cast<std::uint32_t>(begin);
  }
  return out;
}

}  // namespace distill::tokenizer
