// Text pieces shared by config messages and docs: numbers, JSON values described for people,
// edit distance and "did you mean" picks.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "distill/config/config.h"

namespace distill::config::text {

// Shortest text that reads back as `x`: "1", "0.5", "3e-05".
std::string number(double x);

// The value as compact JSON, cut to about 60 characters ("..." marks a cut).
std::string compact(const Json& value);

// Kind and value for "got ..." messages: string "fast", number 2.5, boolean true, null,
// list [1,2], section {"a":1}.
std::string describe(const Json& value);

// Optimal-string-alignment distance (insert, delete, substitute, swap neighbours), ignoring case.
std::size_t edit_distance(const std::string& a, const std::string& b);

// How many edits still count as a typo of a word this long.
std::size_t max_typos(std::size_t length);

// The candidate closest to `word` when it is within max_typos; the first of equals wins.
std::optional<std::string> closest(const std::string& word, const std::vector<std::string>& candidates);

std::string join(const std::vector<std::string>& parts, const std::string& separator);

}  // namespace distill::config::text
