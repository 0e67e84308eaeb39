// Helpers for the config unit tests: a minimal valid config, patching it, catching the UsageError.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "distill/config/config.h"
#include "distill/util/errors.h"

namespace distill::config::test {

// gtest's own substring check (gmock is not installed on every machine).
#define EXPECT_CONTAINS(haystack, needle) EXPECT_PRED_FORMAT2(::testing::IsSubstring, needle, haystack)

inline constexpr const char* kSource = "configs/x.json";

// The smallest valid config; tests add or change keys on it.
inline Json minimal() {
  return Json::parse(R"({"teacher": {"path": "/m/t"}, "student": {"path": "/m/s"}, "data": {"train": ["a.jsonl"]}})");
}

// Sections of `patch` merge into those of `into`; every other value (null too) is set as given.
inline void merge(Json& into, const Json& patch) {
  for (const auto& [key, value] : patch.items()) {
    if (value.is_object() && into.contains(key) && into[key].is_object()) {
      merge(into[key], value);
    } else {
      into[key] = value;
    }
  }
}

// minimal() with `patch` merged in.
inline Json with(const char* patch) {
  Json root = minimal();
  merge(root, Json::parse(patch));
  return root;
}

struct Failure {
  std::string message;
  std::string hint;
};

// The UsageError parse() throws for `root` (after applying `sets`); a test failure when none is thrown.
inline Failure failure(Json root, const std::vector<std::string>& sets = {}) {
  try {
    std::vector<std::string> overridden;
    for (const auto& s : sets) overridden.push_back(apply_override(root, s));
    parse(root, kSource, overridden);
  } catch (const UsageError& e) {
    return {e.what(), e.hint()};
  }
  ADD_FAILURE() << "expected a UsageError for " << root.dump();
  return {};
}

inline std::string message(const Json& root) { return failure(root).message; }

}  // namespace distill::config::test
