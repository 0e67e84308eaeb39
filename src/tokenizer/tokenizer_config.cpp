// tokenizer_config.json / special_tokens_map.json reading, file reading and fingerprints for loaders.
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "distill/util/files.h"
#include "distill/tokenizer/loaders.h"
#include "distill/util/errors.h"
#include "distill/util/logging.h"

namespace distill::tokenizer {
namespace {

// A special token value: "text", {"content": "text", ...} or null.
std::optional<std::string> token_value(const nlohmann::json& v, const std::string& path, const std::string& key) {
  if (v.is_null()) return std::nullopt;
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  throw InputError(path, "'" + key + "' must be a string, an object with \"content\", or null");
}

std::optional<bool> bool_value(const nlohmann::json& j, const char* key, const std::string& path) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  if (!j[key].is_boolean()) throw InputError(path, std::string("'") + key + "' must be true or false");
  return j[key].get<bool>();
}

void read_one(const std::string& path, TokenizerConfig& cfg, bool fill_only_missing) {
  const std::string text = read_input_file(path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(path, std::string("invalid JSON: ") + e.what());
  }
  if (!j.is_object()) throw InputError(path, "expected a JSON object");
  cfg.files.push_back(text);
  auto set = [&](std::optional<std::string>& slot, const char* key) {
    if (!j.contains(key)) return;
    if (fill_only_missing && slot) return;
    slot = token_value(j[key], path, key);
  };
  set(cfg.bos, "bos_token");
  set(cfg.eos, "eos_token");
  set(cfg.pad, "pad_token");
  set(cfg.unk, "unk_token");
  if (!fill_only_missing) {
    cfg.add_bos_token = bool_value(j, "add_bos_token", path);
    cfg.add_eos_token = bool_value(j, "add_eos_token", path);
    cfg.add_prefix_space = bool_value(j, "add_prefix_space", path);
  }
  if (j.contains("additional_special_tokens") && j["additional_special_tokens"].is_array() &&
      (!fill_only_missing || cfg.additional_special_tokens.empty())) {
    cfg.additional_special_tokens.clear();
    for (const auto& v : j["additional_special_tokens"]) {
      if (auto s = token_value(v, path, "additional_special_tokens")) cfg.additional_special_tokens.push_back(*s);
    }
  }
  if (j.contains("added_tokens_decoder") && !fill_only_missing) {
    const auto& d = j["added_tokens_decoder"];
    if (!d.is_object()) throw InputError(path, "'added_tokens_decoder' must be an object of id -> token");
    for (const auto& [key, v] : d.items()) {
      AddedToken t;
      try {
        std::size_t used = 0;
        t.id = std::stoi(key, &used);
        if (used != key.size() || t.id < 0) throw std::invalid_argument(key);
      } catch (const std::exception&) {
        throw InputError(path, "'added_tokens_decoder' key '" + key + "' is not a token id");
      }
      if (!v.is_object() || !v.contains("content") || !v["content"].is_string()) {
        throw InputError(path, "'added_tokens_decoder' entry " + key + " has no \"content\" string");
      }
      t.content = v["content"].get<std::string>();
      t.special = bool_value(v, "special", path).value_or(false);
      t.lstrip = bool_value(v, "lstrip", path).value_or(false);
      t.rstrip = bool_value(v, "rstrip", path).value_or(false);
      t.single_word = bool_value(v, "single_word", path).value_or(false);
      t.normalized = bool_value(v, "normalized", path).value_or(!t.special);
      cfg.added_tokens_decoder.push_back(std::move(t));
    }
  }
}

}  // namespace

TokenizerConfig read_tokenizer_config(const std::string& dir) {
  TokenizerConfig cfg;
  const std::string config = files::join(dir, "tokenizer_config.json");
  const std::string map = files::join(dir, "special_tokens_map.json");
  if (files::is_regular_file(config)) read_one(config, cfg, false);
  if (files::is_regular_file(map)) read_one(map, cfg, true);
  return cfg;
}

std::string read_input_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InputError(path, "cannot open: " + errno_text(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) throw InputError(path, "read failed: " + errno_text(errno));
  return ss.str();
}

std::string fingerprint(const std::string& kind, const std::vector<std::string>& contents) {
  std::uint64_t h = 0xCBF29CE484222325ULL;
  auto feed = [&h](std::string_view s) {
    for (char c : s) {
      h ^= static_cast<unsigned char>(c);
      h *= 0x100000001B3ULL;
    }
    // Separate the parts so that ("ab", "c") and ("a", "bc") differ.
    h ^= s.size();
    h *= 0x100000001B3ULL;
  };
  feed(kind);
  for (const auto& c : contents) feed(c);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

SpecialTokens resolve_special_tokens(const TokenizerConfig& config,
                                     const std::function<std::optional<TokenId>(const std::string&)>& lookup,
                                     const std::string& source) {
  SpecialTokens out;
  auto resolve = [&](const std::optional<std::string>& name, const char* what) -> std::optional<TokenId> {
    if (!name) return std::nullopt;
    if (auto id = lookup(*name)) return id;
    log::warn("{}: {} '{}' is not in the vocabulary; ignoring it", source, what, *name);
    return std::nullopt;
  };
  out.bos = resolve(config.bos, "bos_token");
  out.eos = resolve(config.eos, "eos_token");
  out.pad = resolve(config.pad, "pad_token");
  out.unk = resolve(config.unk, "unk_token");
  return out;
}

}  // namespace distill::tokenizer
