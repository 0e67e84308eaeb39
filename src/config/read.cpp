// Config documents in: reading a JSON file (syntax errors with line and column, duplicate keys),
// --set overrides, and load() which chains them into parse().
#include <algorithm>
#include <cerrno>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>

#include "distill/config/config.h"
#include "distill/util/errors.h"
#include "text.h"

namespace distill::config {
namespace {

// Line and column (both from 1) of the byte nlohmann reports as the last one read.
std::pair<std::size_t, std::size_t> line_and_column(const std::string& text, std::size_t byte) {
  const std::size_t index = std::min(byte == 0 ? 0 : byte - 1, text.size());
  const std::size_t line = 1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + index, '\n'));
  const std::size_t newline = index == 0 ? std::string::npos : text.rfind('\n', index - 1);
  const std::size_t line_start = newline == std::string::npos ? 0 : newline + 1;
  return {line, index - line_start + 1};
}

// nlohmann's message without its "[json.exception...] parse error at line L, column C: " preamble.
std::string syntax_reason(const std::string& what) {
  const auto at = what.find("parse error");
  if (at != std::string::npos) {
    const auto colon = what.find(": ", at);
    if (colon != std::string::npos) return what.substr(colon + 2);
  }
  const auto bracket = what.find("] ");
  return bracket == std::string::npos ? what : what.substr(bracket + 2);
}

// Watches the parser's events for a key repeated within one object (nlohmann keeps the last silently).
class DuplicateKeys {
 public:
  bool operator()(int, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        seen_.emplace_back();
        path_.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        seen_.pop_back();
        path_.pop_back();
        break;
      case Json::parse_event_t::key: {
        const std::string key = parsed.get<std::string>();
        path_.back() = key;
        if (!seen_.back().insert(key).second && first_.empty()) first_ = text::join(path_, ".");
        break;
      }
      default:
        break;
    }
    return true;
  }
  const std::string& first() const { return first_; }

 private:
  std::vector<std::set<std::string>> seen_;  // keys seen in each open object
  std::vector<std::string> path_;            // the current key in each open object
  std::string first_;                        // path of the first repeated key
};

}  // namespace

Json read_json_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw UsageError(path + ": is a directory, not a config file", "give --config a .json file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(path + ": cannot open config file: " + errno_text(errno), "check the --config path");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw UsageError(path + ": cannot read config file: " + errno_text(errno));
  if (std::all_of(text.begin(), text.end(), [](unsigned char ch) { return std::isspace(ch); })) {
    throw UsageError(path + ": config file is empty", "a config is a JSON object; see configs/tiny_smoke.json");
  }

  DuplicateKeys duplicates;
  Json root;
  try {
    root = Json::parse(text, std::ref(duplicates));
  } catch (const Json::parse_error& e) {
    const auto [line, column] = line_and_column(text, e.byte);
    throw UsageError(path + ": invalid JSON at line " + std::to_string(line) + ", column " + std::to_string(column) +
                     ": " + syntax_reason(e.what()));
  }
  if (!duplicates.first().empty()) {
    throw UsageError(path + ": key '" + duplicates.first() + "' appears more than once", "keep one of them");
  }
  if (!root.is_object()) {
    throw UsageError(path + ": the top level must be a JSON object of sections, got " + text::describe(root),
                     "see configs/tiny_smoke.json and docs/config.md");
  }
  return root;
}

std::string apply_override(Json& root, const std::string& assignment) {
  const std::string quoted = "--set '" + assignment + "'";
  const auto eq = assignment.find('=');
  if (eq == std::string::npos) {
    throw UsageError(quoted + ": expected KEY=VALUE", "for example --set train.micro_batch=8");
  }
  const std::string key = assignment.substr(0, eq);
  if (key.empty()) throw UsageError(quoted + ": the key before '=' is empty", "for example --set train.micro_batch=8");
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    const auto dot = key.find('.', start);
    parts.push_back(key.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (parts.back().empty()) {
      throw UsageError(quoted + ": empty path component in '" + key + "'", "write section.key, e.g. optim.lr");
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }

  const std::string value_text = assignment.substr(eq + 1);
  Json value = Json::parse(value_text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) value = value_text;  // not JSON: a plain string

  if (!root.is_object()) throw UsageError(quoted + ": the config is not a JSON object");
  Json* node = &root;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    Json& child = (*node)[parts[i]];
    if (child.is_null()) child = Json::object();
    if (!child.is_object()) {
      std::vector<std::string> upto(parts.begin(), parts.begin() + static_cast<std::ptrdiff_t>(i) + 1);
      throw UsageError(quoted + ": '" + text::join(upto, ".") + "' is " + text::describe(child) + ", not a section");
    }
    node = &child;
  }
  (*node)[parts.back()] = std::move(value);
  return key;
}

Config load(const std::string& path, const std::vector<std::string>& assignments) {
  Json root = read_json_file(path);
  std::vector<std::string> overridden;
  for (const auto& assignment : assignments) overridden.push_back(apply_override(root, assignment));
  return parse(root, path, overridden);
}

}  // namespace distill::config
