// Post-processor implementations: special tokens around the sequence, byte-level offset trimming.
#include "distill/tokenizer/post_processor.h"

#include <algorithm>

#include "distill/tokenizer/unicode.h"
#include "distill/tokenizer/utf8.h"

namespace distill::tokenizer {
namespace {

// HF's byte_level::process_offsets: offsets lose the leading/trailing spaces ('Ġ' or White_Space
// characters) of their token, counted in characters.
void trim_offsets(const std::vector<TokenId>& ids, std::vector<Offset>& offsets, bool add_prefix_space,
                  const IdToToken& id_to_token) {
  constexpr char32_t kSpaceChar = 0x120;  // 'Ġ', the byte alphabet's space
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto token = id_to_token(ids[i]);
    if (!token || !utf8::is_valid(*token)) continue;
    std::vector<char32_t> cs;
    for (std::size_t k = 0; k < token->size();) cs.push_back(utf8::next(*token, k));
    auto spacey = [&](char32_t c) { return c == kSpaceChar || unicode::is_white_space(c); };
    std::size_t leading = 0, trailing = 0;
    while (leading < cs.size() && spacey(cs[leading])) ++leading;
    while (trailing < cs.size() && spacey(cs[cs.size() - 1 - trailing])) ++trailing;
    Offset& o = offsets[i];
    if (leading > 0) {
      const bool is_first = i == 0 || o.begin == 0;
      if (is_first && add_prefix_space && leading == 1) leading = 0;
      o.begin = std::min<std::uint32_t>(o.begin + static_cast<std::uint32_t>(leading), o.end);
    }
    if (trailing > 0 && o.end >= trailing) o.end = std::max<std::uint32_t>(o.end - static_cast<std::uint32_t>(trailing), o.begin);
  }
}

class TemplatePostProcessor : public PostProcessor {
 public:
  explicit TemplatePostProcessor(std::vector<TemplateItem> single) : single_(std::move(single)) {}
  void process(std::vector<TokenId>& ids, std::vector<Offset>* offsets, bool add_special_tokens,
               const IdToToken&) const override {
    if (!add_special_tokens) return;
    std::vector<TokenId> out_ids;
    std::vector<Offset> out_offsets;
    for (const auto& item : single_) {
      if (item.is_sequence) {
        out_ids.insert(out_ids.end(), ids.begin(), ids.end());
        if (offsets) out_offsets.insert(out_offsets.end(), offsets->begin(), offsets->end());
      } else {
        out_ids.insert(out_ids.end(), item.ids.begin(), item.ids.end());
        if (offsets) out_offsets.insert(out_offsets.end(), item.ids.size(), Offset{0, 0});
      }
    }
    ids = std::move(out_ids);
    if (offsets) *offsets = std::move(out_offsets);
  }

 private:
  std::vector<TemplateItem> single_;
};

class ClsSepPostProcessor : public PostProcessor {
 public:
  ClsSepPostProcessor(TokenId cls, TokenId sep, bool trim, bool add_prefix_space)
      : cls_(cls), sep_(sep), trim_(trim), add_prefix_space_(add_prefix_space) {}
  void process(std::vector<TokenId>& ids, std::vector<Offset>* offsets, bool add_special_tokens,
               const IdToToken& id_to_token) const override {
    if (trim_ && offsets) trim_offsets(ids, *offsets, add_prefix_space_, id_to_token);
    if (!add_special_tokens) return;
    ids.insert(ids.begin(), cls_);
    ids.push_back(sep_);
    if (offsets) {
      offsets->insert(offsets->begin(), Offset{0, 0});
      offsets->push_back(Offset{0, 0});
    }
  }

 private:
  TokenId cls_, sep_;
  bool trim_, add_prefix_space_;
};

class ByteLevelPostProcessor : public PostProcessor {
 public:
  ByteLevelPostProcessor(bool trim, bool add_prefix_space) : trim_(trim), add_prefix_space_(add_prefix_space) {}
  void process(std::vector<TokenId>& ids, std::vector<Offset>* offsets, bool,
               const IdToToken& id_to_token) const override {
    if (trim_ && offsets) trim_offsets(ids, *offsets, add_prefix_space_, id_to_token);
  }

 private:
  bool trim_, add_prefix_space_;
};

class SequencePostProcessor : public PostProcessor {
 public:
  explicit SequencePostProcessor(std::vector<std::unique_ptr<PostProcessor>> steps) : steps_(std::move(steps)) {}
  void process(std::vector<TokenId>& ids, std::vector<Offset>* offsets, bool add_special_tokens,
               const IdToToken& id_to_token) const override {
    for (const auto& s : steps_) s->process(ids, offsets, add_special_tokens, id_to_token);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

}  // namespace

std::unique_ptr<PostProcessor> make_template_post_processor(std::vector<TemplateItem> single) {
  return std::make_unique<TemplatePostProcessor>(std::move(single));
}
std::unique_ptr<PostProcessor> make_cls_sep_post_processor(TokenId cls, TokenId sep, bool trim_offsets,
                                                           bool add_prefix_space) {
  return std::make_unique<ClsSepPostProcessor>(cls, sep, trim_offsets, add_prefix_space);
}
std::unique_ptr<PostProcessor> make_byte_level_post_processor(bool trim_offsets, bool add_prefix_space) {
  return std::make_unique<ByteLevelPostProcessor>(trim_offsets, add_prefix_space);
}
std::unique_ptr<PostProcessor> make_sequence_post_processor(std::vector<std::unique_ptr<PostProcessor>> steps) {
  return std::make_unique<SequencePostProcessor>(std::move(steps));
}

}  // namespace distill::tokenizer
