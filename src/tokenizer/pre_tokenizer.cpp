// Pre-tokenizers with HF's semantics: regex splits with delimiter behaviours, byte-level, metaspace.
#include "distill/tokenizer/pre_tokenizer.h"

#include <algorithm>

#include "distill/tokenizer/unicode.h"
#include "distill/tokenizer/utf8.h"

namespace distill::tokenizer {

const char* const kGpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

void PreTokenizedString::add_segment(NormalizedString s) {
  if (s.empty()) return;
  const auto size = static_cast<std::uint32_t>(s.size());
  segments.push_back(std::move(s));
  pieces.push_back({static_cast<std::uint32_t>(segments.size() - 1), 0, size});
}

std::vector<std::pair<std::size_t, std::size_t>> split_by_matches(
    std::size_t size, const std::vector<std::pair<std::size_t, std::size_t>>& matches, SplitBehavior behavior,
    bool invert) {
  if (behavior == SplitBehavior::kIsolated) {
    // Every gap and every match is a piece: no need to classify them first.
    std::vector<std::pair<std::size_t, std::size_t>> out;
    out.reserve(matches.size() * 2 + 1);
    std::size_t prev = 0;
    for (const auto& m : matches) {
      if (prev != m.first) out.emplace_back(prev, m.first);
      out.push_back(m);
      prev = m.second;
    }
    if (prev != size) out.emplace_back(prev, size);
    return out;
  }
  struct Part {
    std::size_t b, e;
    bool match;
  };
  // The text as alternating gaps and matches (HF's Pattern::find_matches).
  std::vector<Part> parts;
  parts.reserve(matches.size() * 2 + 1);
  std::size_t prev = 0;
  for (const auto& [b, e] : matches) {
    if (prev != b) parts.push_back({prev, b, invert});
    parts.push_back({b, e, !invert});
    prev = e;
  }
  if (prev != size) parts.push_back({prev, size, invert});

  std::vector<std::pair<std::size_t, std::size_t>> out;
  out.reserve(parts.size());
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const auto& p : parts) out.emplace_back(p.b, p.e);
      break;
    case SplitBehavior::kRemoved:
      for (const auto& p : parts) {
        if (!p.match) out.emplace_back(p.b, p.e);
      }
      break;
    case SplitBehavior::kContiguous: {
      bool previous = false;
      for (const auto& p : parts) {
        if (p.match == previous && !out.empty()) {
          out.back().second = p.e;
        } else {
          out.emplace_back(p.b, p.e);
        }
        previous = p.match;
      }
      break;
    }
    case SplitBehavior::kMergedWithPrevious: {
      bool previous = false;
      for (const auto& p : parts) {
        if (p.match && !previous && !out.empty()) {
          out.back().second = p.e;
        } else {
          out.emplace_back(p.b, p.e);
        }
        previous = p.match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool previous = false;
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->match && !previous && !out.empty()) {
          out.back().first = it->b;
        } else {
          out.emplace_back(it->b, it->e);
        }
        previous = it->match;
      }
      std::reverse(out.begin(), out.end());
      break;
    }
  }
  return out;
}

namespace {

// Replaces every piece by the parts `cut` returns for its text (empty parts dropped).
template <typename Cut>
void cut_pieces(PreTokenizedString& pts, Cut&& cut) {
  std::vector<PreTokenizedString::Piece> next;
  next.reserve(pts.pieces.size() * 4);
  for (const auto& piece : pts.pieces) {
    const std::string_view text = pts.text(piece);
    for (const auto& [b, e] : cut(text)) {
      if (e > b) {
        next.push_back({piece.segment, piece.begin + static_cast<std::uint32_t>(b),
                        piece.begin + static_cast<std::uint32_t>(e)});
      }
    }
  }
  pts.pieces = std::move(next);
}

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(Regex regex, SplitBehavior behavior, bool invert)
      : regex_(std::move(regex)), behavior_(behavior), invert_(invert) {}

  void pre_tokenize(PreTokenizedString& pts) const override {
    thread_local std::vector<std::pair<std::size_t, std::size_t>> matches;
    cut_pieces(pts, [&](std::string_view text) {
      matches.clear();
      regex_.find_all(text, matches);
      return split_by_matches(text.size(), matches, behavior_, invert_);
    });
    if (matches.capacity() > (1u << 20)) matches = {};  // do not keep what one huge text needed
  }

 private:
  Regex regex_;
  SplitBehavior behavior_;
  bool invert_;
};

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {
    if (use_regex_) regex_ = Regex::compile(kGpt2Pattern);
  }

  void pre_tokenize(PreTokenizedString& pts) const override {
    if (add_prefix_space_) {
      for (auto& piece : pts.pieces) {
        if (pts.text(piece)[0] == ' ') continue;
        NormalizedString s = pts.segments[piece.segment].slice(piece.begin, piece.end);
        s.prepend(" ");
        const auto size = static_cast<std::uint32_t>(s.size());
        pts.segments.push_back(std::move(s));
        piece = {static_cast<std::uint32_t>(pts.segments.size() - 1), 0, size};
      }
    }
    if (use_regex_) {
      thread_local std::vector<std::pair<std::size_t, std::size_t>> matches;
      cut_pieces(pts, [&](std::string_view text) {
        matches.clear();
        regex_.find_all(text, matches);
        return split_by_matches(text.size(), matches, SplitBehavior::kIsolated, false);
      });
      if (matches.capacity() > (1u << 20)) matches = {};
    }
    // Mapping bytes to GPT-2's printable alphabet changes no text here: the BPE model reads raw
    // bytes, and every byte of a character already shares that character's original range.
  }

 private:
  bool add_prefix_space_;
  bool use_regex_;
  Regex regex_;
};

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}

  void pre_tokenize(PreTokenizedString& pts) const override {
    std::vector<PreTokenizedString::Piece> next;
    for (const auto& piece : pts.pieces) {
      NormalizedString s = pts.segments[piece.segment].slice(piece.begin, piece.end);
      std::vector<std::pair<std::size_t, std::size_t>> spaces;
      for (std::size_t i = 0; i < s.size(); ++i) {
        if (s.text()[i] == ' ') spaces.emplace_back(i, i + 1);
      }
      s.replace(spaces, replacement_);
      const bool starts = s.text().compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && (scheme_ == PrependScheme::kAlways ||
                      (scheme_ == PrependScheme::kFirst && s.original_begin() == 0))) {
        s.prepend(replacement_);
      }
      const auto seg = static_cast<std::uint32_t>(pts.segments.size());
      const std::string text = s.text();
      pts.segments.push_back(std::move(s));
      if (!split_) {
        if (!text.empty()) next.push_back({seg, 0, static_cast<std::uint32_t>(text.size())});
        continue;
      }
      std::vector<std::pair<std::size_t, std::size_t>> marks;
      for (std::size_t at = text.find(replacement_); at != std::string::npos;
           at = text.find(replacement_, at + replacement_.size())) {
        marks.emplace_back(at, at + replacement_.size());
      }
      for (const auto& [b, e] : split_by_matches(text.size(), marks, SplitBehavior::kMergedWithNext, false)) {
        if (e > b) next.push_back({seg, static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(e)});
      }
    }
    pts.pieces = std::move(next);
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void pre_tokenize(PreTokenizedString& pts) const override {
    for (const auto& step : steps_) step->pre_tokenize(pts);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_split_pre_tokenizer(Regex regex, SplitBehavior behavior, bool invert) {
  return std::make_unique<SplitPreTokenizer>(std::move(regex), behavior, invert);
}

std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(bool add_prefix_space, bool use_regex) {
  return std::make_unique<ByteLevelPreTokenizer>(add_prefix_space, use_regex);
}

std::unique_ptr<PreTokenizer> make_metaspace_pre_tokenizer(std::string replacement, PrependScheme scheme, bool split) {
  return std::make_unique<MetaspacePreTokenizer>(std::move(replacement), scheme, split);
}

std::unique_ptr<PreTokenizer> make_digits_pre_tokenizer(bool individual_digits) {
  // char::is_numeric is the N categories; individual digits are isolated one by one, otherwise
  // runs of them become one piece (Contiguous also joins the runs of non-digits).
  return std::make_unique<SplitPreTokenizer>(Regex::compile("\\p{N}"),
                                             individual_digits ? SplitBehavior::kIsolated : SplitBehavior::kContiguous,
                                             false);
}

std::unique_ptr<PreTokenizer> make_sequence_pre_tokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) {
  return std::make_unique<SequencePreTokenizer>(std::move(steps));
}

}  // namespace distill::tokenizer
