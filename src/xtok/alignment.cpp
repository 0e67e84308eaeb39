// Byte-position alignment of two tokenizations of one text.
#include "distill/xtok/alignment.h"

#include <cstring>

namespace distill::xtok {

std::optional<std::vector<std::int64_t>> token_ends(const std::vector<tokenizer::TokenId>& ids,
                                                    const std::vector<TokenText>& texts, std::string_view text) {
  std::vector<std::int64_t> ends(ids.size());
  std::int64_t pos = 0;  // bytes spelled so far, in the text's coordinates
  bool prefix_pending = true;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto id = ids[i];
    if (id < 0 || static_cast<std::size_t>(id) >= texts.size() || !texts[static_cast<std::size_t>(id)].present) {
      return std::nullopt;
    }
    std::string_view bytes = texts[static_cast<std::size_t>(id)].bytes;
    if (prefix_pending && !bytes.empty()) {
      // SentencePiece's dummy prefix: "▁Hello" spells " Hello" for the text "Hello".
      if (bytes[0] == ' ' && (text.empty() || text[0] != ' ')) bytes.remove_prefix(1);
      prefix_pending = false;
    }
    if (static_cast<std::size_t>(pos) + bytes.size() > text.size() ||
        std::memcmp(text.data() + pos, bytes.data(), bytes.size()) != 0) {
      return std::nullopt;
    }
    pos += static_cast<std::int64_t>(bytes.size());
    ends[i] = pos;
  }
  if (static_cast<std::size_t>(pos) != text.size()) return std::nullopt;
  return ends;
}

std::vector<std::int64_t> offset_ends(const std::vector<tokenizer::Offset>& offsets) {
  std::vector<std::int64_t> ends(offsets.size());
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    const bool shared = i + 1 < offsets.size() && offsets[i + 1].end == offsets[i].end;
    ends[i] = shared ? -1 : static_cast<std::int64_t>(offsets[i].end);
  }
  return ends;
}

Alignment align_ends(const std::vector<std::int64_t>& student_ends, const std::vector<std::int64_t>& teacher_ends) {
  const std::size_t ns = student_ends.size(), nt = teacher_ends.size();
  Alignment a;
  a.teacher_pos.assign(ns, -1);
  a.exact.assign(ns, 0);
  std::size_t j = 0;
  for (std::size_t i = 0; i < ns; ++i) {
    const std::int64_t e = student_ends[i];
    if (e < 0) continue;
    while (j < nt && (teacher_ends[j] < e || teacher_ends[j] < 0)) ++j;  // -1 entries are skipped
    // The last teacher token ending at e (zero-byte tokens may repeat an end).
    std::size_t last = nt;
    for (std::size_t k = j; k < nt && (teacher_ends[k] == e || teacher_ends[k] < 0); ++k) {
      if (teacher_ends[k] == e) last = k;
    }
    if (last == nt) continue;
    a.teacher_pos[i] = static_cast<std::int64_t>(last);
    if (i + 1 < ns && last + 1 < nt && student_ends[i + 1] > e && student_ends[i + 1] == teacher_ends[last + 1]) {
      a.exact[i] = 1;
    }
  }
  return a;
}

}  // namespace distill::xtok
