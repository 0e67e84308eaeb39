// The tiny HF fixtures of tests/data (made by scripts/make_fixtures.py) and comparison helpers.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace distill::testing {

// Every family fixture under tests/data/models (and its golden file under tests/data/golden).
inline const std::vector<std::string>& model_fixtures() {
  static const std::vector<std::string> names = {"llama",         "llama3", "llama_linear", "mistral",
                                                 "qwen2",         "qwen2_sliding", "qwen3", "opt",
                                                 "opt_postnorm",  "gpt2",   "qwen"};
  return names;
}

std::string model_dir(const std::string& name);
std::string golden_path(const std::string& name);

// max |a - b| / max |b|: the error relative to the reference's scale (robust where b crosses zero).
double max_rel_error(const at::Tensor& actual, const at::Tensor& expected);

}  // namespace distill::testing
