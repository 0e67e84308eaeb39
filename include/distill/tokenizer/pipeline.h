// The HF-style BPE pipeline (added tokens, normalizer, pre-tokenizer, BPE, post-processor, decoder).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "distill/tokenizer/added_vocabulary.h"
#include "distill/tokenizer/bpe.h"
#include "distill/tokenizer/decoder.h"
#include "distill/tokenizer/normalizer.h"
#include "distill/tokenizer/post_processor.h"
#include "distill/tokenizer/pre_tokenizer.h"
#include "distill/tokenizer/tokenizer.h"

namespace distill::tokenizer {

// The parts a loader assembles; null parts are skipped (a null decoder joins tokens with spaces).
struct PipelineParts {
  std::unique_ptr<Normalizer> normalizer;
  // The original Qwen tokenizer normalizes the whole text before finding special tokens; HF
  // tokenizers finds non-normalized added tokens in the raw text first.
  bool normalize_before_added_tokens = false;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<BpeModel> model;
  AddedVocabulary added;
  std::unique_ptr<PostProcessor> post_processor;
  std::unique_ptr<Decoder> decoder;
  SpecialTokens special;
  std::string kind;
  std::string source;
  std::string fingerprint;
  bool lossless = false;
};

std::unique_ptr<Tokenizer> make_pipeline_tokenizer(PipelineParts parts);

}  // namespace distill::tokenizer
