// Byte trie over the added tokens; a scan that reproduces HF's leftmost-longest Aho-Corasick splits.
#include "distill/tokenizer/added_vocabulary.h"

#include <algorithm>

#include "distill/tokenizer/regex.h"
#include "distill/tokenizer/unicode.h"
#include "distill/tokenizer/utf8.h"

namespace distill::tokenizer {
namespace {

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Rust regex's \w: [\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}].
bool is_word_char(std::string_view ch) {
  static const Regex word = Regex::compile("^\\w$");
  return word.search(ch);
}

std::string_view last_char(std::string_view s) {
  std::size_t i = s.size() - 1;
  while (i > 0 && is_continuation(s[i])) --i;
  return s.substr(i);
}

std::string_view first_char(std::string_view s) {
  return s.substr(0, std::min(s.size(), utf8::sequence_length(static_cast<unsigned char>(s[0]))));
}

}  // namespace

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens, std::vector<std::string> patterns)
    : tokens_(std::move(tokens)), patterns_(std::move(patterns)) {
  if (patterns_.empty()) {
    for (const auto& t : tokens_) patterns_.push_back(t.content);
  }
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    by_id_.emplace(tokens_[i].id, i);
    if (patterns_[i].empty()) continue;  // HF ignores empty tokens
    add_pattern(matchers_[tokens_[i].normalized ? 1 : 0], patterns_[i], static_cast<std::int32_t>(i));
  }
}

void AddedVocabulary::add_pattern(Matcher& m, std::string_view pattern, std::int32_t token) {
  if (m.nodes.empty()) m.nodes.emplace_back();
  std::uint32_t node = 0;
  for (char ch : pattern) {
    const auto b = static_cast<unsigned char>(ch);
    auto& kids = m.nodes[node].children;
    auto it = std::lower_bound(kids.begin(), kids.end(), b,
                               [](const std::pair<unsigned char, std::uint32_t>& k, unsigned char v) { return k.first < v; });
    if (it != kids.end() && it->first == b) {
      node = it->second;
      continue;
    }
    const auto child = static_cast<std::uint32_t>(m.nodes.size());
    kids.insert(it, {b, child});
    m.nodes.emplace_back();
    node = child;
  }
  // A later token with the same pattern wins, as in HF's map-then-trie construction order is not
  // defined; keep the first.
  if (m.nodes[node].token < 0) m.nodes[node].token = token;
  m.first_byte[static_cast<unsigned char>(pattern[0])] = true;
}

std::pair<std::size_t, std::int32_t> AddedVocabulary::longest_at(const Matcher& m, std::string_view text,
                                                                  std::size_t pos) const {
  std::pair<std::size_t, std::int32_t> best{0, -1};
  std::uint32_t node = 0;
  for (std::size_t i = pos; i < text.size(); ++i) {
    const auto b = static_cast<unsigned char>(text[i]);
    const auto& kids = m.nodes[node].children;
    auto it = std::lower_bound(kids.begin(), kids.end(), b,
                               [](const std::pair<unsigned char, std::uint32_t>& k, unsigned char v) { return k.first < v; });
    if (it == kids.end() || it->first != b) break;
    node = it->second;
    if (m.nodes[node].token >= 0) best = {i + 1 - pos, m.nodes[node].token};
  }
  return best;
}

void AddedVocabulary::split(std::string_view text, bool normalized, std::vector<Span>& out) const {
  const Matcher& m = matchers_[normalized ? 1 : 0];
  if (text.empty()) {
    out.push_back({0, 0, -1});
    return;
  }
  if (m.nodes.empty()) {
    out.push_back({0, text.size(), -1});
    return;
  }
  std::size_t start_offset = 0;  // end of the last emitted token
  std::size_t pos = 0;           // where the next search starts
  while (pos < text.size()) {
    std::size_t at = pos;
    std::pair<std::size_t, std::int32_t> hit{0, -1};
    for (; at < text.size(); ++at) {
      if (!m.first_byte[static_cast<unsigned char>(text[at])]) continue;
      hit = longest_at(m, text, at);
      if (hit.second >= 0) break;
    }
    if (hit.second < 0) break;
    std::size_t start = at, stop = at + hit.first;
    pos = stop;
    const AddedToken& token = tokens_[static_cast<std::size_t>(hit.second)];
    if (token.single_word) {
      const bool space_before = start == 0 || !is_word_char(last_char(text.substr(0, start)));
      const bool space_after = stop == text.size() || !is_word_char(first_char(text.substr(stop)));
      if (!space_before || !space_after) continue;
    }
    if (token.lstrip) {
      std::size_t b = start;
      while (b > 0) {
        std::size_t i = b - 1;
        while (i > 0 && is_continuation(text[i])) --i;
        std::size_t j = i;
        if (!unicode::is_white_space(utf8::next(text, j))) break;
        b = i;
      }
      start = std::max(b, start_offset);
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        std::size_t j = stop;
        if (!unicode::is_white_space(utf8::next(text, j))) break;
        stop = j;
      }
    }
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, token.id});
    start_offset = stop;
  }
  if (start_offset != text.size()) out.push_back({start_offset, text.size(), -1});
}

const AddedToken* AddedVocabulary::find_id(TokenId id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

std::optional<TokenId> AddedVocabulary::find_content(std::string_view content) const {
  for (const auto& t : tokens_) {
    if (t.content == content) return t.id;
  }
  return std::nullopt;
}

const std::string& AddedVocabulary::decode_text(const AddedToken& token) const {
  const auto i = static_cast<std::size_t>(&token - tokens_.data());
  return patterns_[i];
}

}  // namespace distill::tokenizer
