// JSONL reading with errors that name the file and line.
#include "distill/util/jsonl.h"

#include <fstream>

#include "distill/util/errors.h"

namespace distill {

void for_each_jsonl_object(const std::string& path,
                           const std::function<void(const nlohmann::json& object, const std::string& where)>& f) {
  std::ifstream in(path);
  if (!in) throw InputError(path, "cannot read", "check the path");
  std::string line;
  std::int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(number);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception&) {
      throw InputError(where, "not valid JSON", "one JSON object per line");
    }
    if (!j.is_object()) throw InputError(where, "not a JSON object", "one JSON object per line");
    f(j, where);
  }
}

}  // namespace distill
