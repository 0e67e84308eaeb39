// Reading JSONL files whose every non-blank line is one JSON object (eval data, metrics.jsonl).
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace distill {

// Calls f(object, "path:line") for each non-blank line of `path`. An unreadable file, a line that is
// not valid JSON, or one that is not an object is an InputError (exit 3) naming "path:line".
void for_each_jsonl_object(const std::string& path,
                           const std::function<void(const nlohmann::json& object, const std::string& where)>& f);

}  // namespace distill
