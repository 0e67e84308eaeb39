// The key table behind config.h (private to src/config): for every key its section, name, where it
// lives in a Config (which also fixes its type), its constraint and its description.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "distill/config/config.h"

namespace distill::config::schema {

// Where a key's value lives in a Config. The pointer's type is the key's type: the table cannot
// declare one type and bind another.
using Target = std::variant<std::int64_t*, double*, bool*, std::string*, std::vector<std::string>*,
                            std::vector<double>*, std::vector<std::int64_t>*>;

// In Target's alternative order.
enum class Type { kInteger, kNumber, kBoolean, kString, kStringList, kNumberList, kIntegerList };

inline Type type_of(const Target& target) { return static_cast<Type>(target.index()); }
std::string type_name(Type type);      // "integer", "list of strings" (docs)
std::string expected_text(Type type);  // "an integer", "a list of strings" (errors)

// Numeric bounds for integers, numbers and the elements of number lists.
struct Range {
  std::optional<double> min, max;
  bool min_open = false;  // min excluded: "> 0"
  bool max_open = false;  // max excluded: "< 1"
  bool contains(double x) const;
  std::string text() const;  // ">= 1", "> 0", "in [0, 1)"; empty when unbounded
};

struct Constraint {
  Range range;
  std::vector<std::string> choices;                 // strings: the allowed values
  std::function<bool(const std::string&)> accepts;  // strings: a custom form, described by accepts_text
  std::string accepts_text;                         // "auto, cpu, cuda or cuda:N"
  std::optional<std::size_t> length;                // lists: exact number of elements
  bool non_empty = false;  // strings and lists: "" or [] rejected when given
  bool required = false;   // validate(): must be given (non-empty) when its section is on
  std::string text() const;  // the docs' constraint column
};

struct Section {
  std::string name;
  std::string description;
  // Optional sections (the teacher) may be null or absent; both nullptr for sections always there.
  bool (*present)(const Config&) = nullptr;
  void (*set_present)(Config&, bool on) = nullptr;
  bool optional() const { return present != nullptr; }
  bool on(const Config& c) const { return !optional() || present(c); }
};

struct Key {
  std::string section;
  std::string name;
  Target (*bind)(Config&);  // only called while the key's section is on
  Constraint constraint;
  std::string description;
  // The key's group (the part of `name` before its last dot) may be written as just this key's
  // value: "init": "random" means {"init": {"from": "random"}}. At most one per group.
  bool shorthand = false;
  std::string path() const { return section + "." + name; }
  std::string group() const { return name.substr(0, name.rfind('.') == std::string::npos ? 0 : name.rfind('.')); }
};

const std::vector<Section>& sections();
const std::vector<Key>& keys();  // grouped by section, sections in sections() order
const Section* find_section(const std::string& name);
const Key* find_key(const std::string& section, const std::string& name);
// The shorthand key of group `group` ("init") in `section`, or nullptr.
const Key* shorthand_of(const std::string& section, const std::string& group);

Type key_type(const Key& key);

// A key's current value in `config` as JSON (its section must be on).
Json value_of(const Key& key, const Config& config);

// A Config with every optional section on and default-filled: the defaults the docs show.
Config documented_defaults();

}  // namespace distill::config::schema
