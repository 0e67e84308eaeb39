// Tokenizer test data: downloaded files (.testdata/, fails loudly when missing) and a load cache.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "distill/util/files.h"
#include "distill/tokenizer/tokenizer.h"

namespace distill::testing {

// Absolute path of a file fetched by scripts/fetch_test_data.sh. Throws (the test fails, it is not
// skipped) when the file is missing.
inline std::string downloaded_path(const std::string& relative) {
  const std::string path = std::string(DISTILL_DOWNLOADED_DATA_DIR) + "/" + relative;
  if (!distill::files::exists(path)) {
    throw std::runtime_error("test data missing: " + path + " (run scripts/fetch_test_data.sh)");
  }
  return path;
}

// The real tokenizers the golden tests use, by short name: qwen3, llama2, gpt2, qwen-tiktoken (the
// downloaded folders) and brown-spm (the committed SentencePiece model).
inline std::string tokenizer_path(const std::string& name) {
  if (name == "brown-spm") return std::string(DISTILL_TEST_DATA_DIR) + "/tokenizers/brown_unigram.model";
  return downloaded_path(name);
}

// Loading the Qwen tokenizer.json takes a while: tests share one instance per name. The name is a
// C string so that callers may bind the result to a reference (g++ 13's -Wdangling-reference fires
// on a temporary std::string argument).
inline const tokenizer::Tokenizer& shared_tokenizer(const char* name) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<tokenizer::Tokenizer>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = cache[name];
  if (!slot) slot = tokenizer::load_tokenizer(tokenizer_path(name));
  return *slot;
}

}  // namespace distill::testing
