// config.json access with errors that name the file, the key and what was found.
#include "distill/models/hf_config.h"

#include <fstream>

#include "distill/util/errors.h"
#include "distill/util/files.h"

namespace distill::models {
namespace {

std::string describe(const nlohmann::json& v) {
  std::string text = v.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return std::string(v.type_name()) + " " + text;
}

}  // namespace

HfConfig HfConfig::read(const std::string& model_dir) {
  const std::string path = files::join(model_dir, "config.json");
  std::ifstream f(path);
  if (!f) {
    if (!files::exists(model_dir)) {
      throw InputError(model_dir, "model folder does not exist");
    }
    throw InputError(path, "missing config.json",
                     "point the path at a Hugging Face model folder (config.json + *.safetensors)");
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(path, std::string("invalid JSON: ") + e.what());
  }
  if (!j.is_object()) throw InputError(path, "config.json must hold a JSON object");
  return HfConfig(std::move(j), path);
}

bool HfConfig::has(const std::string& key) const {
  return json_.contains(key) && !json_.at(key).is_null();
}

void HfConfig::fail(const std::string& key, const std::string& problem) const {
  throw InputError(path_, "key '" + key + "' " + problem);
}

std::int64_t HfConfig::integer(const std::string& key) const {
  if (!has(key)) fail(key, "is missing");
  return integer(key, 0);
}

double HfConfig::number(const std::string& key) const {
  if (!has(key)) fail(key, "is missing");
  return number(key, 0.0);
}

std::int64_t HfConfig::integer(const std::string& key, std::int64_t fallback) const {
  if (!has(key)) return fallback;
  const auto& v = json_.at(key);
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (d == static_cast<double>(static_cast<std::int64_t>(d))) return static_cast<std::int64_t>(d);
  }
  fail(key, "must be an integer, got " + describe(v));
}

double HfConfig::number(const std::string& key, double fallback) const {
  if (!has(key)) return fallback;
  const auto& v = json_.at(key);
  if (v.is_number()) return v.get<double>();
  fail(key, "must be a number, got " + describe(v));
}

bool HfConfig::boolean(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& v = json_.at(key);
  if (v.is_boolean()) return v.get<bool>();
  fail(key, "must be true or false, got " + describe(v));
}

std::string HfConfig::string(const std::string& key, const std::string& fallback) const {
  if (!has(key)) return fallback;
  const auto& v = json_.at(key);
  if (v.is_string()) return v.get<std::string>();
  fail(key, "must be a string, got " + describe(v));
}

std::optional<std::int64_t> HfConfig::first_integer(std::initializer_list<const char*> keys) const {
  for (const char* k : keys) {
    if (has(k)) return integer(k, 0);
  }
  return std::nullopt;
}

}  // namespace distill::models
