// Pre-tokenizers (ByteLevel, Split, Metaspace, Digits, Sequence): cut normalized text into words.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "distill/tokenizer/normalized_string.h"
#include "distill/tokenizer/regex.h"

namespace distill::tokenizer {

// Normalized segments and the words cut from them. Cutting only adds pieces; an edit (Metaspace's
// replace/prepend) copies the piece into a new segment first.
struct PreTokenizedString {
  struct Piece {
    std::uint32_t segment;
    std::uint32_t begin, end;  // bytes of segments[segment].text()
  };
  std::vector<NormalizedString> segments;
  std::vector<Piece> pieces;

  std::string_view text(const Piece& p) const {
    return std::string_view(segments[p.segment].text()).substr(p.begin, p.end - p.begin);
  }
  Offset original_span(const Piece& p, std::size_t begin, std::size_t end) const {
    return segments[p.segment].original_span(p.begin + begin, p.begin + end);
  }
  // Adds a whole segment as one piece (nothing for empty text).
  void add_segment(NormalizedString s);
};

// What happens to the matched delimiters of a split (HF's SplitDelimiterBehavior).
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// A cut of a text of length `size` into [begin, end) parts given the matches of a pattern.
std::vector<std::pair<std::size_t, std::size_t>> split_by_matches(
    std::size_t size, const std::vector<std::pair<std::size_t, std::size_t>>& matches, SplitBehavior behavior,
    bool invert);

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(PreTokenizedString& pts) const = 0;
};

enum class PrependScheme { kFirst, kNever, kAlways };

// GPT-2's pattern, which ByteLevel(use_regex=true) splits with.
extern const char* const kGpt2Pattern;

std::unique_ptr<PreTokenizer> make_split_pre_tokenizer(Regex regex, SplitBehavior behavior, bool invert);
std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(bool add_prefix_space, bool use_regex);
std::unique_ptr<PreTokenizer> make_metaspace_pre_tokenizer(std::string replacement, PrependScheme scheme, bool split);
std::unique_ptr<PreTokenizer> make_digits_pre_tokenizer(bool individual_digits);
std::unique_ptr<PreTokenizer> make_sequence_pre_tokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps);

}  // namespace distill::tokenizer
