// HF tokenizer.json loader: builds the pipeline parts from the JSON, rejecting what it cannot honour.
#include <nlohmann/json.hpp>

#include "distill/tokenizer/byte_level.h"
#include "distill/tokenizer/loaders.h"
#include "distill/tokenizer/pipeline.h"
#include "distill/tokenizer/utf8.h"
#include "distill/util/errors.h"
#include "distill/util/logging.h"

namespace distill::tokenizer {
namespace {

using json = nlohmann::json;

class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& where, const std::string& message) const {
    throw InputError(path_, where + ": " + message);
  }

  std::string type(const json& j, const std::string& where) const {
    if (!j.is_object()) fail(where, "expected an object");
    if (!j.contains("type") || !j["type"].is_string()) fail(where, "missing \"type\"");
    return j["type"].get<std::string>();
  }

  bool boolean(const json& j, const char* key, bool fallback, const std::string& where) const {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_boolean()) fail(where, std::string("\"") + key + "\" must be true or false");
    return j[key].get<bool>();
  }

  std::string string(const json& j, const char* key, const std::string& where) const {
    if (!j.contains(key) || !j[key].is_string()) fail(where, std::string("missing string \"") + key + "\"");
    return j[key].get<std::string>();
  }

  std::size_t count(const json& j, const char* key, std::size_t fallback, const std::string& where) const {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_number_unsigned()) fail(where, std::string("\"") + key + "\" must be a non-negative integer");
    return j[key].get<std::size_t>();
  }

  const json& array(const json& j, const char* key, const std::string& where) const {
    if (!j.contains(key) || !j[key].is_array()) fail(where, std::string("missing array \"") + key + "\"");
    return j[key];
  }

  // {"String": "..."} (a literal) or {"Regex": "..."}.
  Regex pattern(const json& j, const std::string& where) const {
    if (!j.is_object()) fail(where, "\"pattern\" must be {\"String\": ...} or {\"Regex\": ...}");
    try {
      if (j.contains("String") && j["String"].is_string()) return Regex::compile(j["String"].get<std::string>(), true);
      if (j.contains("Regex") && j["Regex"].is_string()) return Regex::compile(j["Regex"].get<std::string>());
    } catch (const RegexError& e) {
      fail(where, e.what());
    }
    fail(where, "\"pattern\" must be {\"String\": ...} or {\"Regex\": ...}");
  }

  char32_t single_char(const std::string& s, const std::string& where, const char* key) const {
    std::size_t i = 0;
    if (s.empty() || !utf8::is_valid(s)) fail(where, std::string("\"") + key + "\" must be one character");
    const char32_t c = utf8::next(s, i);
    if (i != s.size()) fail(where, std::string("\"") + key + "\" must be one character");
    return c;
  }

  PrependScheme prepend_scheme(const json& j, const std::string& where) const {
    PrependScheme scheme = PrependScheme::kAlways;
    if (j.contains("prepend_scheme") && !j["prepend_scheme"].is_null()) {
      const std::string s = string(j, "prepend_scheme", where);
      if (s == "first") scheme = PrependScheme::kFirst;
      else if (s == "never") scheme = PrependScheme::kNever;
      else if (s == "always") scheme = PrependScheme::kAlways;
      else fail(where, "unknown prepend_scheme '" + s + "'");
    }
    // Older files say add_prefix_space: false instead of prepend_scheme: never.
    if (j.contains("add_prefix_space") && j["add_prefix_space"].is_boolean() && !j["add_prefix_space"].get<bool>()) {
      scheme = PrependScheme::kNever;
    }
    return scheme;
  }

  std::unique_ptr<Normalizer> normalizer(const json& j, const std::string& where) const {
    const std::string t = type(j, where);
    const std::string here = where + " (" + t + ")";
    if (t == "NFC") return make_unicode_normalizer(unicode::Form::kNFC, unicode::kHfTokenizersVersion);
    if (t == "NFD") return make_unicode_normalizer(unicode::Form::kNFD, unicode::kHfTokenizersVersion);
    if (t == "Prepend") return make_prepend_normalizer(string(j, "prepend", here));
    if (t == "Replace") return make_replace_normalizer(pattern(j.value("pattern", json()), here), string(j, "content", here));
    if (t == "Strip") {
      return make_strip_normalizer(boolean(j, "strip_left", true, here), boolean(j, "strip_right", true, here));
    }
    if (t == "Sequence") {
      std::vector<std::unique_ptr<Normalizer>> steps;
      const json& list = array(j, "normalizers", here);
      for (std::size_t i = 0; i < list.size(); ++i) steps.push_back(normalizer(list[i], where + "[" + std::to_string(i) + "]"));
      return make_sequence_normalizer(std::move(steps));
    }
    fail(where, "normalizer type '" + t + "' is not supported (supported: NFC, NFD, Prepend, Replace, Strip, Sequence)");
  }

  std::unique_ptr<PreTokenizer> pre_tokenizer(const json& j, const std::string& where, bool& byte_level) const {
    const std::string t = type(j, where);
    const std::string here = where + " (" + t + ")";
    if (t == "ByteLevel") {
      byte_level = true;
      return make_byte_level_pre_tokenizer(boolean(j, "add_prefix_space", true, here), boolean(j, "use_regex", true, here));
    }
    if (t == "Split") {
      static const std::pair<const char*, SplitBehavior> kBehaviors[] = {
          {"Removed", SplitBehavior::kRemoved},
          {"Isolated", SplitBehavior::kIsolated},
          {"MergedWithPrevious", SplitBehavior::kMergedWithPrevious},
          {"MergedWithNext", SplitBehavior::kMergedWithNext},
          {"Contiguous", SplitBehavior::kContiguous}};
      const std::string b = string(j, "behavior", here);
      for (const auto& [name, behavior] : kBehaviors) {
        if (b == name) {
          return make_split_pre_tokenizer(pattern(j.value("pattern", json()), here), behavior,
                                          boolean(j, "invert", false, here));
        }
      }
      fail(here, "unknown behavior '" + b + "'");
    }
    if (t == "Metaspace") {
      const std::string replacement = string(j, "replacement", here);
      single_char(replacement, here, "replacement");
      return make_metaspace_pre_tokenizer(replacement, prepend_scheme(j, here), boolean(j, "split", true, here));
    }
    if (t == "Digits") return make_digits_pre_tokenizer(boolean(j, "individual_digits", false, here));
    if (t == "Sequence") {
      std::vector<std::unique_ptr<PreTokenizer>> steps;
      const json& list = array(j, "pretokenizers", here);
      for (std::size_t i = 0; i < list.size(); ++i) {
        steps.push_back(pre_tokenizer(list[i], where + "[" + std::to_string(i) + "]", byte_level));
      }
      return make_sequence_pre_tokenizer(std::move(steps));
    }
    fail(where, "pre-tokenizer type '" + t + "' is not supported (supported: ByteLevel, Split, Metaspace, Digits, Sequence)");
  }

  std::unique_ptr<Decoder> decoder(const json& j, const std::string& where) const {
    const std::string t = type(j, where);
    const std::string here = where + " (" + t + ")";
    if (t == "ByteLevel") return make_byte_level_decoder();
    if (t == "Metaspace") {
      const char32_t c = single_char(string(j, "replacement", here), here, "replacement");
      return make_metaspace_decoder(c, prepend_scheme(j, here));
    }
    if (t == "Replace") return make_replace_decoder(pattern(j.value("pattern", json()), here), string(j, "content", here));
    if (t == "ByteFallback") return make_byte_fallback_decoder();
    if (t == "Fuse") return make_fuse_decoder();
    if (t == "Strip") {
      const char32_t c = single_char(string(j, "content", here), here, "content");
      return make_strip_decoder(c, count(j, "start", 0, here), count(j, "stop", 0, here));
    }
    if (t == "Sequence") {
      std::vector<std::unique_ptr<Decoder>> steps;
      const json& list = array(j, "decoders", here);
      for (std::size_t i = 0; i < list.size(); ++i) steps.push_back(decoder(list[i], where + "[" + std::to_string(i) + "]"));
      return make_sequence_decoder(std::move(steps));
    }
    fail(where, "decoder type '" + t + "' is not supported (supported: ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence)");
  }

  // A ["token", id] pair of Roberta/Bert processors.
  TokenId token_pair(const json& j, const char* key, const std::string& where) const {
    if (!j.contains(key) || !j[key].is_array() || j[key].size() != 2 || !j[key][1].is_number_integer()) {
      fail(where, std::string("\"") + key + "\" must be [\"token\", id]");
    }
    return j[key][1].get<TokenId>();
  }

  std::unique_ptr<PostProcessor> post_processor(const json& j, const std::string& where) const {
    const std::string t = type(j, where);
    const std::string here = where + " (" + t + ")";
    if (t == "ByteLevel") {
      return make_byte_level_post_processor(boolean(j, "trim_offsets", true, here), boolean(j, "add_prefix_space", true, here));
    }
    if (t == "TemplateProcessing") {
      std::vector<TemplateItem> items;
      const json& specials = j.value("special_tokens", json::object());
      for (const json& piece : array(j, "single", here)) {
        if (piece.contains("Sequence")) {
          items.push_back({true, {}});
        } else if (piece.contains("SpecialToken") && piece["SpecialToken"].contains("id") &&
                   piece["SpecialToken"]["id"].is_string()) {
          const std::string name = piece["SpecialToken"]["id"].get<std::string>();
          if (!specials.contains(name) || !specials[name].contains("ids") || !specials[name]["ids"].is_array()) {
            fail(here, "special token '" + name + "' is not listed in \"special_tokens\"");
          }
          TemplateItem item;
          for (const json& id : specials[name]["ids"]) {
            if (!id.is_number_integer()) fail(here, "special token '" + name + "' has a non-integer id");
            item.ids.push_back(id.get<TokenId>());
          }
          items.push_back(std::move(item));
        } else {
          fail(here, "\"single\" items must be {\"Sequence\": ...} or {\"SpecialToken\": {\"id\": ...}}");
        }
      }
      return make_template_post_processor(std::move(items));
    }
    if (t == "RobertaProcessing") {
      return make_cls_sep_post_processor(token_pair(j, "cls", here), token_pair(j, "sep", here),
                                         boolean(j, "trim_offsets", true, here), boolean(j, "add_prefix_space", true, here));
    }
    if (t == "BertProcessing") {
      return make_cls_sep_post_processor(token_pair(j, "cls", here), token_pair(j, "sep", here), false, false);
    }
    if (t == "Sequence") {
      std::vector<std::unique_ptr<PostProcessor>> steps;
      const json& list = array(j, "processors", here);
      for (std::size_t i = 0; i < list.size(); ++i) {
        steps.push_back(post_processor(list[i], where + "[" + std::to_string(i) + "]"));
      }
      return make_sequence_post_processor(std::move(steps));
    }
    fail(where, "post-processor type '" + t + "' is not supported (supported: TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence)");
  }

  std::unique_ptr<BpeModel> model(const json& j, bool byte_level) const {
    const std::string where = "model";
    if (!j.is_object()) fail(where, "expected an object");
    const std::string t = j.contains("type") ? type(j, where) : (j.contains("merges") ? "BPE" : "unknown");
    if (t != "BPE") {
      fail(where, "model type '" + t +
                      "' is not supported: distill reads BPE tokenizer.json files (byte-level or SentencePiece-style)");
    }
    if (j.contains("dropout") && j["dropout"].is_number() && j["dropout"].get<double>() > 0) {
      fail(where, "BPE dropout is set; encoding would be random, which a training tool cannot use");
    }
    if (!j.contains("vocab") || !j["vocab"].is_object()) fail(where, "missing object \"vocab\"");
    std::vector<std::pair<std::string, TokenId>> vocab;
    vocab.reserve(j["vocab"].size());
    for (const auto& [token, id] : j["vocab"].items()) {
      if (!id.is_number_integer() || id.get<long long>() < 0 || id.get<long long>() > 0x7FFFFFFF) {
        fail(where, "vocab entry '" + token + "' has no valid id");
      }
      vocab.emplace_back(token, id.get<TokenId>());
    }
    std::vector<std::pair<std::string, std::string>> merges;
    const json& list = array(j, "merges", where);
    merges.reserve(list.size());
    for (std::size_t i = 0; i < list.size(); ++i) {
      const json& m = list[i];
      if (m.is_string()) {
        // "a b": exactly two parts around one space (HF's legacy form).
        const std::string s = m.get<std::string>();
        const std::size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
          fail(where, "merge #" + std::to_string(i + 1) + " '" + s + "' is not two tokens separated by one space");
        }
        merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        fail(where, "merge #" + std::to_string(i + 1) + " is neither \"a b\" nor [\"a\", \"b\"]");
      }
    }
    BpeConfig cfg;
    cfg.byte_level = byte_level;
    if (j.contains("unk_token") && j["unk_token"].is_string()) cfg.unk_token = j["unk_token"].get<std::string>();
    if (j.contains("continuing_subword_prefix") && j["continuing_subword_prefix"].is_string()) {
      cfg.continuing_subword_prefix = j["continuing_subword_prefix"].get<std::string>();
    }
    if (j.contains("end_of_word_suffix") && j["end_of_word_suffix"].is_string()) {
      cfg.end_of_word_suffix = j["end_of_word_suffix"].get<std::string>();
    }
    cfg.fuse_unk = boolean(j, "fuse_unk", false, where);
    cfg.byte_fallback = boolean(j, "byte_fallback", false, where);
    cfg.ignore_merges = boolean(j, "ignore_merges", false, where);
    try {
      return BpeModel::from_merges(vocab, merges, cfg);
    } catch (const BpeError& e) {
      fail(where, e.what());
    }
  }

  std::vector<AddedToken> added_tokens(const json& j) const {
    std::vector<AddedToken> out;
    if (!j.contains("added_tokens") || j["added_tokens"].is_null()) return out;
    if (!j["added_tokens"].is_array()) fail("added_tokens", "expected an array");
    for (std::size_t i = 0; i < j["added_tokens"].size(); ++i) {
      const json& a = j["added_tokens"][i];
      const std::string where = "added_tokens[" + std::to_string(i) + "]";
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || a["id"].get<long long>() < 0) {
        fail(where, "needs a non-negative integer \"id\"");
      }
      AddedToken t;
      t.id = a["id"].get<TokenId>();
      t.content = string(a, "content", where);
      t.special = boolean(a, "special", false, where);
      t.lstrip = boolean(a, "lstrip", false, where);
      t.rstrip = boolean(a, "rstrip", false, where);
      t.single_word = boolean(a, "single_word", false, where);
      t.normalized = boolean(a, "normalized", !t.special, where);
      out.push_back(std::move(t));
    }
    return out;
  }

 private:
  std::string path_;
};

// Finds `j`'s pre-tokenizer type anywhere in a Sequence.
bool contains_type(const json& j, const char* list_key, const char* type) {
  if (!j.is_object()) return false;
  if (j.value("type", "") == type) return true;
  if (j.contains(list_key) && j[list_key].is_array()) {
    for (const auto& s : j[list_key]) {
      if (contains_type(s, list_key, type)) return true;
    }
  }
  return false;
}

}  // namespace

std::unique_ptr<Tokenizer> load_hf_json(const std::string& path, const TokenizerConfig& config) {
  const std::string text = read_input_file(path);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw InputError(path, std::string("invalid JSON (truncated or corrupt?): ") + e.what(),
                     "a tokenizer.json is written by Hugging Face tokenizers; fetch it again");
  }
  if (!j.is_object()) throw InputError(path, "expected a JSON object");
  Reader r(path);
  for (const char* key : {"truncation", "padding"}) {
    if (j.contains(key) && !j[key].is_null()) log::warn("{}: \"{}\" is set; distill ignores it", path, key);
  }

  PipelineParts parts;
  if (j.contains("normalizer") && !j["normalizer"].is_null()) parts.normalizer = r.normalizer(j["normalizer"], "normalizer");
  bool byte_level = false;
  if (j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null()) {
    parts.pre_tokenizer = r.pre_tokenizer(j["pre_tokenizer"], "pre_tokenizer", byte_level);
  }
  if (!j.contains("model")) throw InputError(path, "missing \"model\"");
  parts.model = r.model(j["model"], byte_level);
  if (j.contains("post_processor") && !j["post_processor"].is_null()) {
    parts.post_processor = r.post_processor(j["post_processor"], "post_processor");
  }
  if (j.contains("decoder") && !j["decoder"].is_null()) parts.decoder = r.decoder(j["decoder"], "decoder");

  std::vector<AddedToken> added = r.added_tokens(j);
  std::vector<std::string> patterns;
  for (const auto& t : added) {
    if (t.normalized && parts.normalizer) {
      NormalizedString n(t.content, 0);
      parts.normalizer->normalize(n);
      patterns.push_back(n.text());
    } else {
      patterns.push_back(t.content);
    }
  }
  parts.added = AddedVocabulary(std::move(added), std::move(patterns));

  const AddedVocabulary& av = parts.added;
  const BpeModel& model = *parts.model;
  parts.special = resolve_special_tokens(
      config,
      [&](const std::string& name) -> std::optional<TokenId> {
        if (auto id = av.find_content(name)) return id;
        return model.token_to_id(name);
      },
      path);
  if (!parts.special.unk && j["model"].contains("unk_token") && j["model"]["unk_token"].is_string()) {
    parts.special.unk = model.token_to_id(j["model"]["unk_token"].get<std::string>());
  }
  const bool byte_level_decoder = j.contains("decoder") && contains_type(j["decoder"], "decoders", "ByteLevel");
  const bool byte_fallback_decoder = j.contains("decoder") && contains_type(j["decoder"], "decoders", "ByteFallback");
  parts.lossless = (byte_level && byte_level_decoder) ||
                   (!byte_level && byte_fallback_decoder && j["model"].value("byte_fallback", false));
  parts.kind = "hf-bpe";
  parts.source = path;
  std::vector<std::string> contents{text};
  contents.insert(contents.end(), config.files.begin(), config.files.end());
  parts.fingerprint = fingerprint(parts.kind, contents);
  return make_pipeline_tokenizer(std::move(parts));
}

}  // namespace distill::tokenizer
