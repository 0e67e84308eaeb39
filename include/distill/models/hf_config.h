// Typed, error-reporting access to a model's config.json (every problem names the file and key, exit 3).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

namespace distill::models {

class HfConfig {
 public:
  HfConfig(nlohmann::json json, std::string path) : json_(std::move(json)), path_(std::move(path)) {}

  // Reads <dir>/config.json. Missing file or invalid JSON -> InputError.
  static HfConfig read(const std::string& model_dir);

  const nlohmann::json& json() const { return json_; }
  const std::string& path() const { return path_; }
  bool has(const std::string& key) const;  // present and not null

  // Required keys: missing or mistyped -> InputError naming the key.
  std::int64_t integer(const std::string& key) const;
  double number(const std::string& key) const;
  // Optional keys with defaults: mistyped -> InputError; absent or null -> the default.
  std::int64_t integer(const std::string& key, std::int64_t fallback) const;
  double number(const std::string& key, double fallback) const;
  bool boolean(const std::string& key, bool fallback) const;
  std::string string(const std::string& key, const std::string& fallback) const;
  // The first present key among `keys` (families spell the same setting differently).
  std::optional<std::int64_t> first_integer(std::initializer_list<const char*> keys) const;

  // An error about this config.json, e.g. fail("num_attention_heads", "must divide hidden_size 100").
  [[noreturn]] void fail(const std::string& key, const std::string& problem) const;

 private:
  nlohmann::json json_;
  std::string path_;
};

}  // namespace distill::models
