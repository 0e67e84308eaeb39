// JSON -> Config through the key table: unknown keys with suggestions, type and range checks,
// cross-key validation; and back: to_json and key-by-key equality.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>

#include "distill/config/config.h"
#include "distill/util/errors.h"
#include "schema.h"
#include "text.h"

namespace distill::config {
namespace {

using schema::Constraint;
using schema::Key;

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

bool is_empty_value(const Json& v) {
  return (v.is_string() && v.get_ref<const std::string&>().empty()) || (v.is_array() && v.empty());
}

// The closest known name for an unknown `name` in `section` ("" for the top level): a whole path or a
// name within the section within typo distance; a known name in another section costs one edit more.
std::optional<std::string> suggest(const std::string& section, const std::string& name) {
  std::optional<std::string> best;
  std::size_t best_score = text::max_typos(name.size()) + 1;
  auto offer = [&](const std::string& candidate, std::size_t score) {
    if (score < best_score) {
      best = candidate;
      best_score = score;
    }
  };
  if (section.empty()) {
    for (const auto& s : schema::sections()) offer(s.name, text::edit_distance(name, s.name));
  }
  for (const auto& k : schema::keys()) {
    const std::size_t by_name = text::edit_distance(name, k.name) + (k.section == section ? 0 : 1);
    const std::size_t by_path = text::edit_distance(section.empty() ? name : section + "." + name, k.path());
    offer(k.path(), std::min(by_name, by_path));
  }
  return best;
}

class Parser {
 public:
  Parser(const std::string& source, const std::vector<std::string>& overridden)
      : prefix_(source.empty() ? "" : source + ": "), overridden_(overridden) {}

  Config run(const Json& root) {
    if (!root.is_object()) {
      throw UsageError(prefix_ + "the top level must be a JSON object of sections, got " + text::describe(root));
    }
    reject_unknown(root);
    Config config;
    for (const auto& s : schema::sections()) turn_on_or_off(s, root, config);
    for (const auto& key : schema::keys()) {
      if (!schema::find_section(key.section)->on(config)) continue;
      const auto section = root.find(key.section);
      if (section == root.end()) continue;
      if (const Json* value = find_nested(*section, key)) {
        std::visit([&](auto* out) { read(key.path(), *value, key.constraint, out); }, key.bind(config));
      }
    }
    try {
      validate(config);
    } catch (const UsageError& e) {
      throw UsageError(prefix_ + e.what(), e.hint());
    }
    return config;
  }

 private:
  // Whether an override put the value at `path` there: the path itself, a value inside it (a
  // section or list set whole), or a section an override created on its way.
  bool from_set(const std::string& path) const {
    for (const auto& o : overridden_) {
      if (o == path || starts_with(path, o + ".") || starts_with(path, o + "[") || starts_with(o, path + ".")) {
        return true;
      }
    }
    return false;
  }

  // "key 'train.micro_batch'", plus " (from --set)" when an override put the value there.
  std::string key_text(const std::string& path) const {
    return "key '" + path + "'" + (from_set(path) ? " (from --set)" : "");
  }

  [[noreturn]] void wrong_type(const std::string& path, const std::string& expected, const Json& given,
                               std::string hint = {}) const {
    throw UsageError(prefix_ + key_text(path) + ": expected " + expected + ", got " + text::describe(given),
                     std::move(hint));
  }

  [[noreturn]] void out_of_range(const std::string& path, const std::string& must, const Json& given) const {
    throw UsageError(prefix_ + key_text(path) + " must be " + must + ", got " + text::compact(given));
  }

  // The value of a key in its section object; a dotted name ("augment.command") goes through nested
  // objects. nullptr when absent (a null group counts as absent); a group that is not an object is
  // a type error naming it.
  const Json* find_nested(const Json& section, const Key& key) const {
    const Json* node = &section;
    std::size_t start = 0;
    while (true) {
      const auto dot = key.name.find('.', start);
      const std::string part = key.name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      const auto it = node->find(part);
      if (it == node->end()) return nullptr;
      if (dot == std::string::npos) return &*it;
      if (it->is_null()) return nullptr;
      if (!it->is_object()) {
        // A group written as its shorthand value: that value is the shorthand key's; the others are absent.
        const std::string group = key.name.substr(0, dot);
        if (const Key* shorthand = schema::shorthand_of(key.section, group)) return shorthand == &key ? &*it : nullptr;
        wrong_type(key.section + "." + group, "a section (JSON object)", *it);
      }
      node = &*it;
      start = dot + 1;
    }
  }

  static bool is_group(const std::string& section, const std::string& name) {
    for (const auto& k : schema::keys()) {
      if (k.section == section && starts_with(k.name, name + ".")) return true;
    }
    return false;
  }

  // Keys of `object` (in `section`, under the nested group `prefix`, "" or "augment.") that the table lacks.
  void reject_unknown_keys(const std::string& section, const std::string& prefix, const Json& object) const {
    for (const auto& [key_name, value] : object.items()) {
      const std::string name = prefix + key_name;
      if (key_name.find('.') != std::string::npos && schema::find_key(section, name)) {
        throw UsageError(prefix_ + "unknown " + key_text(section + "." + name) + ": keys are nested, not dotted",
                         "write {\"" + key_name.substr(0, key_name.find('.')) + "\": {\"" +
                             key_name.substr(key_name.find('.') + 1) + "\": ...}}");
      }
      if (schema::find_key(section, name)) continue;
      if (is_group(section, name)) {
        if (value.is_object()) reject_unknown_keys(section, name + ".", value);
        continue;  // null is an absent group; other types are reported by find_nested
      }
      unknown(section, name);
    }
  }

  void reject_unknown(const Json& root) const {
    for (const auto& [name, value] : root.items()) {
      if (!schema::find_section(name)) unknown("", name);
      if (value.is_object()) reject_unknown_keys(name, "", value);
    }
  }

  [[noreturn]] void unknown(const std::string& section, const std::string& name) const {
    const std::string path = section.empty() ? name : section + "." + name;
    std::string message = prefix_ + "unknown " + key_text(path);
    const auto dot = name.find('.');
    if (section.empty() && dot != std::string::npos && schema::find_key(name.substr(0, dot), name.substr(dot + 1))) {
      throw UsageError(message + ": keys are nested, not dotted", "write {\"" + name.substr(0, dot) + "\": {\"" +
                                                                      name.substr(dot + 1) + "\": ...}}");
    }
    const auto guess = suggest(section, name);
    if (guess) message += "; did you mean '" + *guess + "'?";
    std::vector<std::string> known;
    if (section.empty()) {
      for (const auto& s : schema::sections()) known.push_back(s.name);
    } else {
      for (const auto& k : schema::keys()) {
        if (k.section == section) known.push_back(k.name);
      }
    }
    throw UsageError(message, (section.empty() ? "sections: " : "keys in '" + section + "': ") +
                                  text::join(known, ", ") + " (docs/config.md lists every key)");
  }

  void turn_on_or_off(const schema::Section& s, const Json& root, Config& config) const {
    const auto it = root.find(s.name);
    const bool absent = it == root.end() || it->is_null();
    if (absent && s.optional()) s.set_present(config, false);
    if (absent && (s.optional() || it == root.end())) return;
    if (!it->is_object()) {
      wrong_type(s.name, std::string("a section (JSON object)") + (s.optional() ? " or null" : ""), *it);
    }
    if (s.optional()) s.set_present(config, true);
  }

  void check_range(const std::string& path, const Constraint& c, double x, const Json& given) const {
    if (!c.range.contains(x)) out_of_range(path, c.range.text(), given);
  }

  void read(const std::string& path, const Json& v, const Constraint& c, std::int64_t* out) const {
    constexpr double kLimit = 9.2e18;  // within int64, exactly representable as a double
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > std::numeric_limits<std::int64_t>::max()) {
      wrong_type(path, "an integer within 64 bits", v);
    }
    if (v.is_number_integer()) {
      *out = v.get<std::int64_t>();
    } else if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
               std::fabs(v.get<double>()) < kLimit) {
      *out = static_cast<std::int64_t>(v.get<double>());
    } else {
      wrong_type(path, "an integer", v);
    }
    check_range(path, c, static_cast<double>(*out), v);
  }

  void read(const std::string& path, const Json& v, const Constraint& c, double* out) const {
    if (!v.is_number()) wrong_type(path, "a number", v);
    *out = v.get<double>();
    check_range(path, c, *out, v);
  }

  void read(const std::string& path, const Json& v, const Constraint&, bool* out) const {
    if (!v.is_boolean()) wrong_type(path, "a boolean (true or false)", v);
    *out = v.get<bool>();
  }

  void read(const std::string& path, const Json& v, const Constraint& c, std::string* out) const {
    if (!v.is_string()) {
      wrong_type(path, "a string", v,
                 from_set(path) ? "to pass it as a string, quote it: --set '" + path + "=\"" + v.dump() + "\"'" : "");
    }
    const std::string& s = v.get_ref<const std::string&>();
    if (c.non_empty && s.empty()) out_of_range(path, "non-empty", v);
    if (!c.choices.empty() && std::find(c.choices.begin(), c.choices.end(), s) == c.choices.end()) {
      std::string message =
          prefix_ + key_text(path) + " must be one of " + text::join(c.choices, ", ") + "; got " + text::compact(v);
      if (const auto guess = text::closest(s, c.choices)) message += "; did you mean \"" + *guess + "\"?";
      throw UsageError(message);
    }
    if (c.accepts && !c.accepts(s)) out_of_range(path, c.accepts_text, v);
    *out = s;
  }

  void read(const std::string& path, const Json& v, const Constraint& c, std::vector<std::string>* out) const {
    if (!v.is_array()) {
      std::string hint;
      if (v.is_string()) {
        hint = from_set(path) ? "write a list: --set '" + path + "=[" + v.dump() + "]'" : "write a list: [" + v.dump() + "]";
      }
      wrong_type(path, "a list of strings", v, hint);
    }
    check_list(path, c, v);
    out->clear();
    for (std::size_t i = 0; i < v.size(); ++i) {
      const std::string item = path + "[" + std::to_string(i) + "]";
      if (!v[i].is_string()) wrong_type(item, "a string", v[i]);
      if (v[i].get_ref<const std::string&>().empty()) out_of_range(item, "non-empty", v[i]);
      out->push_back(v[i].get<std::string>());
    }
  }

  void read(const std::string& path, const Json& v, const Constraint& c, std::vector<std::int64_t>* out) const {
    if (!v.is_array()) wrong_type(path, "a list of integers", v);
    check_list(path, c, v);
    out->clear();
    for (std::size_t i = 0; i < v.size(); ++i) {
      std::int64_t item = 0;
      read(path + "[" + std::to_string(i) + "]", v[i], c, &item);
      out->push_back(item);
    }
  }

  void read(const std::string& path, const Json& v, const Constraint& c, std::vector<double>* out) const {
    if (!v.is_array()) wrong_type(path, "a list of numbers", v);
    check_list(path, c, v);
    out->clear();
    for (std::size_t i = 0; i < v.size(); ++i) {
      const std::string item = path + "[" + std::to_string(i) + "]";
      if (!v[i].is_number()) wrong_type(item, "a number", v[i]);
      check_range(item, c, v[i].get<double>(), v[i]);
      out->push_back(v[i].get<double>());
    }
  }

  void check_list(const std::string& path, const Constraint& c, const Json& v) const {
    if (c.non_empty && v.empty()) out_of_range(path, "a non-empty list", v);
    if (c.length && v.size() != *c.length) out_of_range(path, "a list of " + c.text(), v);
  }

  std::string prefix_;
  const std::vector<std::string>& overridden_;
};

}  // namespace

Config parse(const Json& root, const std::string& source, const std::vector<std::string>& overridden) {
  return Parser(source, overridden).run(root);
}

namespace {

// The keys of student.init other than `from` build a student from the teacher: they need from = teacher.
void validate_student_init(const Config& c) {
  const StudentInitConfig& init = c.student.init;
  const Config defaults = schema::documented_defaults();
  if (init.from != "teacher") {
    for (const auto& key : schema::keys()) {
      if (key.section != "student" || key.group() != "init" || key.shorthand) continue;
      if (schema::value_of(key, c) != schema::value_of(key, defaults)) {
        throw UsageError("key '" + key.path() + "' applies only when student.init.from is \"teacher\" (it is \"" +
                             init.from + "\")",
                         "set student.init.from to \"teacher\" to build the student from the teacher, or remove " +
                             key.path());
      }
    }
    return;
  }
  if (!c.teacher) {
    throw UsageError("student.init.from is \"teacher\" but the config has no teacher",
                     "add a \"teacher\" section with teacher.path, the model the student is built from");
  }
}

}  // namespace

void validate(const Config& c) {
  if (!c.teacher && c.loss.kind != "ce") {
    throw UsageError("loss.kind \"" + c.loss.kind + "\" distils from a teacher, but the config has none",
                     "add a \"teacher\" section with teacher.path (a Hugging Face model folder), or set "
                     "loss.kind to \"ce\" to train the student alone");
  }
  for (const auto& key : schema::keys()) {
    if (!key.constraint.required || !schema::find_section(key.section)->on(c)) continue;
    if (!is_empty_value(schema::value_of(key, c))) continue;
    const bool is_list = schema::key_type(key) == schema::Type::kStringList;
    throw UsageError("missing required key '" + key.path() + "': " + key.description,
                     "set it in the config file or with --set " +
                         (is_list ? "'" + key.path() + "=[\"...\"]'" : key.path() + "=..."));
  }
  if (c.schedule.warmup_steps > c.train.max_steps) {
    throw UsageError("schedule.warmup_steps (" + std::to_string(c.schedule.warmup_steps) +
                         ") must be <= train.max_steps (" + std::to_string(c.train.max_steps) + ")",
                     "lower schedule.warmup_steps or raise train.max_steps");
  }
  if (c.train.eval_every > 0 && c.data.valid.empty() && c.data.valid_fraction == 0) {
    throw UsageError("train.eval_every is " + std::to_string(c.train.eval_every) + " but data.valid is empty",
                     "list validation files in data.valid, set data.valid_fraction, or set train.eval_every to 0");
  }
  validate_student_init(c);
  if (c.teacher && c.teacher->offload_layers > 0 && c.teacher->offload != "layers") {
    throw UsageError("teacher.offload_layers is " + std::to_string(c.teacher->offload_layers) +
                         " but teacher.offload is \"" + c.teacher->offload + "\": nothing is streamed",
                     "set teacher.offload to \"layers\" to stream that many decoder layers, or remove "
                     "teacher.offload_layers");
  }
  if (c.data.augment.shell && c.data.augment.command.size() != 1) {
    throw UsageError("data.augment.shell is true, so data.augment.command must be one string (a shell command line), "
                     "got " + std::to_string(c.data.augment.command.size()) + " strings",
                     "write \"command\": [\"my-tool --lang de | post-process\"], or set data.augment.shell to false "
                     "and give the argv list");
  }
}

Json to_json(const Config& config) {
  Json out = Json::object();
  for (const auto& s : schema::sections()) out[s.name] = s.on(config) ? Json::object() : Json(nullptr);
  for (const auto& key : schema::keys()) {
    if (!schema::find_section(key.section)->on(config)) continue;
    Json* node = &out[key.section];
    std::size_t start = 0;
    for (auto dot = key.name.find('.'); dot != std::string::npos; dot = key.name.find('.', start)) {
      node = &(*node)[key.name.substr(start, dot - start)];
      start = dot + 1;
    }
    (*node)[key.name.substr(start)] = schema::value_of(key, config);
  }
  // A group whose other keys all hold their defaults is written as its shorthand value ("init": "random").
  const Config defaults = schema::documented_defaults();
  for (const auto& key : schema::keys()) {
    if (!key.shorthand || !schema::find_section(key.section)->on(config)) continue;
    bool others_default = true;
    for (const auto& other : schema::keys()) {
      if (&other != &key && other.section == key.section && other.group() == key.group()) {
        others_default = others_default && schema::value_of(other, config) == schema::value_of(other, defaults);
      }
    }
    if (others_default) out[key.section][key.group()] = schema::value_of(key, config);
  }
  return out;
}

bool operator==(const Config& a, const Config& b) {
  for (const auto& s : schema::sections()) {
    if (s.on(a) != s.on(b)) return false;
  }
  for (const auto& key : schema::keys()) {
    if (schema::find_section(key.section)->on(a) && schema::value_of(key, a) != schema::value_of(key, b)) {
      return false;
    }
  }
  return true;
}

}  // namespace distill::config
