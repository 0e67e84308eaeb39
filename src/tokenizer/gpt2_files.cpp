// GPT-2 layout loader: vocab.json + merges.txt (or encoder.json + vocab.bpe) as HF's converted GPT-2 pipeline.
#include <nlohmann/json.hpp>

#include "distill/tokenizer/loaders.h"
#include "distill/tokenizer/pipeline.h"
#include "distill/util/errors.h"

namespace distill::tokenizer {

// The pipeline transformers builds for GPT2Tokenizer(Fast) from these two files: ByteLevel
// pre-tokenizer (GPT-2's regex, add_prefix_space from the config, default false), byte-level BPE,
// ByteLevel decoder, ByteLevel post-processor without offset trimming, and the config's special
// tokens (default <|endoftext|> for bos/eos/unk, as GPT-2's) registered as special added tokens.
std::unique_ptr<Tokenizer> load_gpt2_files(const std::string& vocab_path, const std::string& merges_path,
                                           const TokenizerConfig& config) {
  const std::string vocab_text = read_input_file(vocab_path);
  const std::string merges_text = read_input_file(merges_path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(vocab_text);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(vocab_path, std::string("invalid JSON (truncated or corrupt?): ") + e.what());
  }
  if (!j.is_object()) throw InputError(vocab_path, "expected a JSON object of token -> id");
  std::vector<std::pair<std::string, TokenId>> vocab;
  vocab.reserve(j.size());
  for (const auto& [token, id] : j.items()) {
    if (!id.is_number_integer() || id.get<long long>() < 0 || id.get<long long>() > 0x7FFFFFFF) {
      throw InputError(vocab_path, "entry '" + token + "' has no valid id");
    }
    vocab.emplace_back(token, id.get<TokenId>());
  }

  // One merge per line, "a b"; a "#version" header and blank lines are skipped.
  std::vector<std::pair<std::string, std::string>> merges;
  std::size_t line_no = 0, pos = 0;
  while (pos < merges_text.size()) {
    std::size_t end = merges_text.find('\n', pos);
    if (end == std::string::npos) end = merges_text.size();
    std::string line = merges_text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    const std::size_t sp = line.find(' ');
    if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos) {
      throw InputError(merges_path, "line " + std::to_string(line_no) + ": '" + line +
                                        "' is not two tokens separated by one space");
    }
    merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }

  PipelineParts parts;
  BpeConfig cfg;
  cfg.byte_level = true;
  try {
    parts.model = BpeModel::from_merges(vocab, merges, cfg);
  } catch (const BpeError& e) {
    throw InputError(merges_path, e.what());
  }
  const bool add_prefix_space = config.add_prefix_space.value_or(false);
  parts.pre_tokenizer = make_byte_level_pre_tokenizer(add_prefix_space, true);
  parts.decoder = make_byte_level_decoder();

  TokenizerConfig cfg_with_defaults = config;
  const bool has_config = !config.files.empty();
  if (!has_config && parts.model->token_to_id("<|endoftext|>")) {
    cfg_with_defaults.bos = cfg_with_defaults.eos = cfg_with_defaults.unk = "<|endoftext|>";
  }
  // Added tokens: the config's added_tokens_decoder, else its named special tokens that exist.
  std::vector<AddedToken> added = config.added_tokens_decoder;
  if (added.empty()) {
    std::vector<std::string> names;
    for (const auto* name : {&cfg_with_defaults.bos, &cfg_with_defaults.eos, &cfg_with_defaults.unk, &cfg_with_defaults.pad}) {
      if (*name) names.push_back(**name);
    }
    names.insert(names.end(), config.additional_special_tokens.begin(), config.additional_special_tokens.end());
    for (const auto& name : names) {
      const auto id = parts.model->token_to_id(name);
      bool seen = false;
      for (const auto& a : added) seen = seen || a.content == name;
      if (!id || seen) continue;
      AddedToken t;
      t.id = *id;
      t.content = name;
      t.special = true;
      added.push_back(std::move(t));
    }
  }
  parts.added = AddedVocabulary(std::move(added));
  const AddedVocabulary& av = parts.added;
  const BpeModel& model = *parts.model;
  parts.special = resolve_special_tokens(
      cfg_with_defaults,
      [&](const std::string& name) -> std::optional<TokenId> {
        if (auto id = av.find_content(name)) return id;
        return model.token_to_id(name);
      },
      vocab_path);

  std::vector<TemplateItem> single;
  if (config.add_bos_token.value_or(false) && parts.special.bos) single.push_back({false, {*parts.special.bos}});
  single.push_back({true, {}});
  if (config.add_eos_token.value_or(false) && parts.special.eos) single.push_back({false, {*parts.special.eos}});
  parts.post_processor = make_template_post_processor(std::move(single));

  parts.kind = "gpt2-bpe";
  parts.source = vocab_path;
  parts.lossless = true;
  std::vector<std::string> contents{vocab_text, merges_text};
  contents.insert(contents.end(), config.files.begin(), config.files.end());
  parts.fingerprint = fingerprint(parts.kind, contents);
  return make_pipeline_tokenizer(std::move(parts));
}

}  // namespace distill::tokenizer
