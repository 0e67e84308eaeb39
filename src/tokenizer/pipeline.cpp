// Encode/decode through the HF-style pipeline, keeping byte offsets into the caller's text.
#include "distill/tokenizer/pipeline.h"

#include <algorithm>

#include "distill/tokenizer/utf8.h"

namespace distill::tokenizer {
namespace {

class PipelineTokenizer : public Tokenizer {
 public:
  explicit PipelineTokenizer(PipelineParts parts) : p_(std::move(parts)) {
    special_ = p_.special;
    added_ = p_.added.tokens();
    source_ = p_.source;
    fingerprint_ = p_.fingerprint;
    id_limit_ = p_.model->id_limit();
    for (const auto& t : added_) id_limit_ = std::max(id_limit_, static_cast<std::size_t>(t.id) + 1);
  }

  Encoding encode(std::string_view input, const EncodeOptions& options) const override {
    std::string repaired;
    std::vector<std::uint32_t> source_of;
    std::string_view text = input;
    if (!utf8::is_valid(input)) {
      repaired = utf8::repair(input, options.offsets ? &source_of : nullptr);
      text = repaired;
    }
    Encoding enc;
    std::vector<Offset>* offsets = options.offsets ? &enc.offsets : nullptr;
    if (p_.normalize_before_added_tokens) {
      NormalizedString whole(text, 0);
      if (p_.normalizer) p_.normalizer->normalize(whole);
      encode_segment(whole, enc.ids, offsets, /*normalized_set=*/false);
    } else {
      std::vector<AddedVocabulary::Span> spans;
      p_.added.split(text, false, spans);
      for (const auto& s : spans) {
        if (s.id >= 0) {
          enc.ids.push_back(s.id);
          if (offsets) offsets->push_back({static_cast<std::uint32_t>(s.begin), static_cast<std::uint32_t>(s.end)});
          continue;
        }
        if (s.end == s.begin) continue;
        NormalizedString seg(text.substr(s.begin, s.end - s.begin), static_cast<std::uint32_t>(s.begin));
        if (p_.normalizer) p_.normalizer->normalize(seg);
        encode_segment(seg, enc.ids, offsets, /*normalized_set=*/true);
      }
    }
    if (p_.post_processor) {
      p_.post_processor->process(enc.ids, offsets, options.add_special_tokens,
                                 [this](TokenId id) { return id_to_token(id); });
    }
    if (offsets && !source_of.empty()) {
      for (auto& o : *offsets) o = {source_of[o.begin], source_of[o.end]};
    }
    return enc;
  }

  std::string decode(const std::vector<TokenId>& ids, bool skip_special_tokens) const override {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (TokenId id : ids) {
      std::optional<std::string> token;
      if (const AddedToken* t = p_.added.find_id(id)) {
        token = p_.added.decode_text(*t);
      } else {
        token = p_.model->id_to_token(id);
      }
      if (!token) continue;
      // HF skips by content: any token spelled like a special token is skipped.
      if (skip_special_tokens && is_special_content(*token)) continue;
      tokens.push_back(std::move(*token));
    }
    return run_decoder(p_.decoder.get(), std::move(tokens));
  }

  std::size_t vocab_size() const override { return id_limit_; }

  std::optional<std::string> id_to_token(TokenId id) const override {
    if (const AddedToken* t = p_.added.find_id(id)) return t->content;
    return p_.model->id_to_token(id);
  }

  std::optional<TokenId> token_to_id(std::string_view token) const override {
    if (auto id = p_.added.find_content(token)) return id;
    return p_.model->token_to_id(token);
  }

  std::string kind() const override { return p_.kind; }
  bool lossless() const override { return p_.lossless; }

 private:
  bool is_special_content(const std::string& s) const {
    for (const auto& t : added_) {
      if (t.special && t.content == s) return true;
    }
    return false;
  }

  // A normalized segment: cut at normalized added tokens (or, for normalize-first pipelines, at
  // all of them), then pre-tokenize and run BPE on each piece.
  void encode_segment(const NormalizedString& seg, std::vector<TokenId>& ids, std::vector<Offset>* offsets,
                      bool normalized_set) const {
    if (seg.empty()) return;
    if (!p_.added.has(normalized_set)) {
      encode_words(seg, ids, offsets);
      return;
    }
    std::vector<AddedVocabulary::Span> spans;
    p_.added.split(seg.text(), normalized_set, spans);
    for (const auto& s : spans) {
      if (s.id >= 0) {
        ids.push_back(s.id);
        if (offsets) offsets->push_back(seg.original_span(s.begin, s.end));
      } else if (s.end > s.begin) {
        encode_words(seg.slice(s.begin, s.end), ids, offsets);
      }
    }
  }

  void encode_words(NormalizedString seg, std::vector<TokenId>& ids, std::vector<Offset>* offsets) const {
    thread_local PreTokenizedString pts;
    thread_local std::vector<std::uint32_t> lengths;
    pts.segments.clear();
    pts.pieces.clear();
    pts.add_segment(std::move(seg));
    if (p_.pre_tokenizer) p_.pre_tokenizer->pre_tokenize(pts);
    for (const auto& piece : pts.pieces) {
      const std::string_view word = pts.text(piece);
      if (!offsets) {
        p_.model->tokenize(word, ids, nullptr);
        continue;
      }
      lengths.clear();
      p_.model->tokenize(word, ids, &lengths);
      std::size_t at = 0;
      for (std::uint32_t len : lengths) {
        // Token lengths cover the word exactly, except where HF's own bookkeeping does not (an
        // unknown character dropped for want of <unk>): clamp rather than read past the word.
        const std::size_t b = std::min(at, word.size() - 1), e = std::min(at + len, word.size());
        offsets->push_back(e > b ? pts.original_span(piece, b, e) : Offset{});
        at += len;
      }
    }
    // Per-thread scratch space: do not keep what one huge text needed.
    if (pts.pieces.capacity() > (1u << 20) || pts.segments.size() > 1024) {
      pts = PreTokenizedString();
      lengths = std::vector<std::uint32_t>();
    }
  }

  PipelineParts p_;
  std::size_t id_limit_ = 0;
};

}  // namespace

std::unique_ptr<Tokenizer> make_pipeline_tokenizer(PipelineParts parts) {
  return std::make_unique<PipelineTokenizer>(std::move(parts));
}

}  // namespace distill::tokenizer
