// Post-processors (TemplateProcessing, Roberta/Bert, ByteLevel offset trimming, Sequence) for one sequence.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "distill/tokenizer/tokenizer.h"

namespace distill::tokenizer {

using IdToToken = std::function<std::optional<std::string>(TokenId)>;

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // `offsets` is null when offsets are not wanted.
  virtual void process(std::vector<TokenId>& ids, std::vector<Offset>* offsets, bool add_special_tokens,
                       const IdToToken& id_to_token) const = 0;
};

// One item of a single-sequence template: the sequence itself or special token ids.
struct TemplateItem {
  bool is_sequence = false;
  std::vector<TokenId> ids;  // special tokens (empty for the sequence)
};

std::unique_ptr<PostProcessor> make_template_post_processor(std::vector<TemplateItem> single);
// RobertaProcessing/BertProcessing: cls + sequence + sep; Roberta may trim offsets like ByteLevel.
std::unique_ptr<PostProcessor> make_cls_sep_post_processor(TokenId cls, TokenId sep, bool trim_offsets,
                                                           bool add_prefix_space);
std::unique_ptr<PostProcessor> make_byte_level_post_processor(bool trim_offsets, bool add_prefix_space);
std::unique_ptr<PostProcessor> make_sequence_post_processor(std::vector<std::unique_ptr<PostProcessor>> steps);

}  // namespace distill::tokenizer
