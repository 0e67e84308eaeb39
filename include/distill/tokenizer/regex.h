// PCRE2 (UTF + UCP + JIT) behind a small interface, reading tokenizer.json's Oniguruma-style patterns.
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace distill::tokenizer {

// A compile failure; the loader turns it into an InputError naming the file.
class RegexError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Regex {
 public:
  // Compiles `pattern`. Oniguruma and Rust's regex (what HF and tiktoken use) read \s as Unicode
  // White_Space, \w as [\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}] and \d as \p{Nd}; PCRE2's
  // UCP meanings differ (its \s has U+180E), so those escapes are rewritten before compiling.
  // `literal`: the pattern is a plain string to find.
  static Regex compile(const std::string& pattern, bool literal = false);

  Regex();
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;

  const std::string& pattern() const { return pattern_; }

  // Appends every match in `s` as [begin, end) byte offsets: leftmost-first, non-overlapping,
  // scanning on after each match (one character on after an empty match). `s` must be valid UTF-8.
  void find_all(std::string_view s, std::vector<std::pair<std::size_t, std::size_t>>& out) const;
  // True when the pattern matches somewhere in `s`.
  bool search(std::string_view s) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string pattern_;
};

// The rewrite compile() applies (exposed for tests).
std::string translate_pattern(const std::string& pattern);

}  // namespace distill::tokenizer
