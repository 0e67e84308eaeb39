// Smoke: the real tokenizers load and give the known ids for "Hello world".
#include <gtest/gtest.h>

#include "tokenizer_data.h"

namespace distill::testing {
namespace {

using tokenizer::TokenId;

TEST(TokenizerSmoke, HelloWorld) {
  EXPECT_EQ(shared_tokenizer("gpt2").encode_ids("Hello world"), (std::vector<TokenId>{15496, 995}));
  // The npm LLaMA-2 file is a LLaMA-2-style tokenizer.json whose ids differ from Meta's release.
  const auto& llama = shared_tokenizer("llama2");
  const auto ids = llama.encode_ids("Hello world", true);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ(*llama.id_to_token(ids[1]), "\xE2\x96\x81Hello");
  EXPECT_EQ(*llama.id_to_token(ids[2]), "\xE2\x96\x81world");
  EXPECT_EQ(shared_tokenizer("qwen3").encode_ids("Hello world"), (std::vector<TokenId>{9707, 1879}));
  EXPECT_EQ(shared_tokenizer("qwen-tiktoken").encode_ids("Hello world"), (std::vector<TokenId>{9707, 1879}));
}

}  // namespace
}  // namespace distill::testing
