// Helpers for the data tests: the GPT-2 tokenizer, building small datasets, and datasets made of
// given token ids (pretokenized JSONL), so loader tests know every token.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "distill/data/dataset.h"
#include "distill/data/tokenize.h"
#include "distill/util/errors.h"
#include "test_support.h"
#include "tokenizer_data.h"

namespace distill::data::test {

#define EXPECT_CONTAINS(haystack, needle) EXPECT_PRED_FORMAT2(::testing::IsSubstring, needle, haystack)

inline const tokenizer::Tokenizer& gpt2() { return testing::shared_tokenizer("gpt2"); }
constexpr std::int64_t kGpt2Eos = 50256;

// A build with quiet progress and the given inputs and output.
inline BuildOptions options(const std::vector<std::string>& inputs, const std::string& out) {
  BuildOptions o;
  o.inputs = inputs;
  o.output_dir = out;
  o.threads = 2;
  o.progress_every_s = 1e9;
  return o;
}

// A JSONL line {"input_ids": [...]}.
inline std::string ids_line(const std::vector<std::int64_t>& ids) {
  std::string s = "{\"input_ids\": [";
  for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s + "]}\n";
}

// Documents of the given lengths whose tokens name their place: doc d, token i -> 1000 * (d + 1) + i
// (every id < 50257 for d < 49 and i < 1000).
inline std::vector<std::vector<std::int64_t>> numbered_docs(const std::vector<int>& lengths) {
  std::vector<std::vector<std::int64_t>> docs;
  for (std::size_t d = 0; d < lengths.size(); ++d) {
    std::vector<std::int64_t> ids;
    for (int i = 0; i < lengths[d]; ++i) ids.push_back(1000 * static_cast<std::int64_t>(d + 1) + i);
    docs.push_back(ids);
  }
  return docs;
}

// A dataset (GPT-2 vocabulary: EOS 50256) holding exactly `docs`, built in `dir`.
inline std::shared_ptr<const Dataset> dataset_of(const testing::TempDir& dir,
                                                 const std::vector<std::vector<std::int64_t>>& docs,
                                                 const std::string& name = "ds") {
  std::string text;
  for (const auto& d : docs) text += ids_line(d);
  const std::string in = dir.file(name + ".jsonl");
  testing::write_file(in, text);
  build_dataset(gpt2(), options({in}, dir.file(name)));
  return Dataset::open(dir.file(name));
}

inline Corpus corpus_of(std::shared_ptr<const Dataset> ds) {
  Corpus c;
  c.add(ds);
  return c;
}

// The message of the distill::Error `f` throws (a test failure when it throws none or another kind).
template <typename E, typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an error";
  return {};
}

}  // namespace distill::data::test
