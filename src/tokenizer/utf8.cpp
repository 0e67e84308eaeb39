// UTF-8 validation and lossy repair following Unicode's "maximal subpart" substitution rule.
#include "distill/tokenizer/utf8.h"

namespace distill::tokenizer::utf8 {
namespace {

// Allowed range of the second byte for a lead byte (Unicode Table 3-7), and the total length.
struct LeadInfo {
  unsigned char lo = 0, hi = 0;
  std::size_t length = 0;  // 0: not a lead byte
};

LeadInfo lead_info(unsigned char b) {
  if (b >= 0xC2 && b <= 0xDF) return {0x80, 0xBF, 2};
  if (b == 0xE0) return {0xA0, 0xBF, 3};
  if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) return {0x80, 0xBF, 3};
  if (b == 0xED) return {0x80, 0x9F, 3};
  if (b == 0xF0) return {0x90, 0xBF, 4};
  if (b >= 0xF1 && b <= 0xF3) return {0x80, 0xBF, 4};
  if (b == 0xF4) return {0x80, 0x8F, 4};
  return {};
}

// Number of bytes from s[i] that form a valid prefix of a sequence (1..length).
std::size_t valid_prefix(std::string_view s, std::size_t i, const LeadInfo& info) {
  std::size_t n = 1;
  while (n < info.length && i + n < s.size()) {
    const auto b = static_cast<unsigned char>(s[i + n]);
    const unsigned char lo = n == 1 ? info.lo : 0x80;
    const unsigned char hi = n == 1 ? info.hi : 0xBF;
    if (b < lo || b > hi) break;
    ++n;
  }
  return n;
}

}  // namespace

std::size_t valid_length(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  const LeadInfo info = lead_info(b0);
  if (info.length == 0) return 0;
  return valid_prefix(s, i, info) == info.length ? info.length : 0;
}

std::size_t invalid_length(std::string_view s, std::size_t i) {
  const LeadInfo info = lead_info(static_cast<unsigned char>(s[i]));
  if (info.length == 0) return 1;
  return valid_prefix(s, i, info);
}

bool is_valid(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    // ASCII runs, eight bytes at a time.
    while (i + 8 <= n) {
      std::uint64_t w;
      __builtin_memcpy(&w, s.data() + i, 8);
      if (w & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= n) break;
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const std::size_t len = valid_length(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string repair(std::string_view s, std::vector<std::uint32_t>* source_offsets) {
  std::string out;
  out.reserve(s.size() + 8);
  if (source_offsets) {
    source_offsets->clear();
    source_offsets->reserve(s.size() + 9);
  }
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t len = valid_length(s, i);
    if (len > 0) {
      out.append(s.data() + i, len);
      if (source_offsets) {
        for (std::size_t k = 0; k < len; ++k) source_offsets->push_back(static_cast<std::uint32_t>(i + k));
      }
      i += len;
      continue;
    }
    len = invalid_length(s, i);
    out.append("\xEF\xBF\xBD");
    if (source_offsets) {
      for (int k = 0; k < 3; ++k) source_offsets->push_back(static_cast<std::uint32_t>(i));
    }
    i += len;
  }
  if (source_offsets) source_offsets->push_back(static_cast<std::uint32_t>(s.size()));
  return out;
}

void append(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::size_t count_chars(std::string_view s) {
  std::size_t n = 0;
  for (char ch : s) n += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
  return n;
}

}  // namespace distill::tokenizer::utf8
