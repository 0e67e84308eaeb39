// load_tokenizer(): which file a folder yields, direct file paths, tokenizer_config.json special
// tokens, the real tokenizers' special ids, and the qwen.tiktoken / SentencePiece backends.
#include <gtest/gtest.h>


#include "distill/util/files.h"
#include "distill/tokenizer/tokenizer.h"
#include "distill/util/errors.h"
#include "test_support.h"
#include "tokenizer_data.h"

namespace distill::testing {
namespace {

using tokenizer::TokenId;
using Ids = std::vector<TokenId>;

void copy(const std::string& from, const std::string& to) { write_file(to, read_file(from)); }

template <typename F>
std::string input_error_of(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    return e.what();
  }
  ADD_FAILURE() << "expected InputError";
  return "";
}

TEST(TokenizerFactory, FolderPicksTheFirstKnownLayout) {
  TempDir dir;
  copy(downloaded_path("qwen-tiktoken/qwen.tiktoken"), dir.file("qwen.tiktoken"));
  EXPECT_EQ(tokenizer::load_tokenizer(dir.path())->kind(), "tiktoken");
  copy(downloaded_path("gpt2/encoder.json"), dir.file("encoder.json"));
  copy(downloaded_path("gpt2/vocab.bpe"), dir.file("vocab.bpe"));
  EXPECT_EQ(tokenizer::load_tokenizer(dir.path())->kind(), "gpt2-bpe");
  copy(downloaded_path("gpt2/encoder.json"), dir.file("vocab.json"));
  copy(downloaded_path("gpt2/vocab.bpe"), dir.file("merges.txt"));
  EXPECT_EQ(tokenizer::load_tokenizer(dir.path())->kind(), "gpt2-bpe");
  copy(data_path("tokenizers/brown_unigram.model"), dir.file("tokenizer.model"));
  EXPECT_EQ(tokenizer::load_tokenizer(dir.path())->kind(), "sentencepiece");
  copy(downloaded_path("llama2/tokenizer.json"), dir.file("tokenizer.json"));
  EXPECT_EQ(tokenizer::load_tokenizer(dir.path())->kind(), "hf-bpe");
}

TEST(TokenizerFactory, DirectFilePaths) {
  EXPECT_EQ(tokenizer::load_tokenizer(downloaded_path("llama2/tokenizer.json"))->kind(), "hf-bpe");
  EXPECT_EQ(tokenizer::load_tokenizer(downloaded_path("gpt2/vocab.bpe"))->kind(), "gpt2-bpe");
  EXPECT_EQ(tokenizer::load_tokenizer(data_path("tokenizers/brown_unigram.model"))->kind(), "sentencepiece");
  TempDir dir;
  copy(downloaded_path("gpt2/encoder.json"), dir.file("vocab.json"));
  EXPECT_NE(input_error_of([&] { tokenizer::load_tokenizer(dir.file("vocab.json")); }).find("merges.txt"),
            std::string::npos);
  write_file(dir.file("notes.txt"), "hello");
  EXPECT_NE(input_error_of([&] { tokenizer::load_tokenizer(dir.file("notes.txt")); }).find("cannot tell"),
            std::string::npos);
}

TEST(TokenizerFactory, MissingThingsAreInputErrors) {
  TempDir dir;
  EXPECT_NE(input_error_of([&] { tokenizer::load_tokenizer(dir.path()); }).find("tokenizer.json, tokenizer.model"),
            std::string::npos);
  EXPECT_NE(input_error_of([&] { tokenizer::load_tokenizer(dir.file("nope")); }).find("no such file"), std::string::npos);
  write_file(dir.file("tokenizer.model"), "this is not a protobuf");
  EXPECT_NE(input_error_of([&] { tokenizer::load_tokenizer(dir.path()); }).find("not a SentencePiece model"),
            std::string::npos);
}

TEST(TokenizerFactory, RealSpecialTokens) {
  const auto& qwen = shared_tokenizer("qwen3");
  EXPECT_EQ(qwen.special_tokens().eos, 151645);  // <|im_end|>, from tokenizer_config.json
  EXPECT_EQ(qwen.special_tokens().pad, 151643);  // <|endoftext|>
  EXPECT_FALSE(qwen.special_tokens().bos.has_value());
  EXPECT_EQ(qwen.vocab_size(), 151669u);
  EXPECT_TRUE(qwen.is_special(151644));
  EXPECT_FALSE(qwen.is_special(151667));  // <think> is an added token but not special
  const auto& llama = shared_tokenizer("llama2");
  EXPECT_EQ(llama.special_tokens().bos, 1);
  EXPECT_EQ(llama.special_tokens().eos, 2);
  EXPECT_EQ(llama.special_tokens().unk, 0);
  EXPECT_EQ(llama.vocab_size(), 32000u);
  const auto& gpt2 = shared_tokenizer("gpt2");  // no config beside it: GPT-2's defaults
  EXPECT_EQ(gpt2.special_tokens().eos, 50256);
  EXPECT_EQ(gpt2.special_tokens().bos, 50256);
  EXPECT_EQ(gpt2.encode_ids("a<|endoftext|>b"), (Ids{64, 50256, 65}));
  const auto& tik = shared_tokenizer("qwen-tiktoken");
  EXPECT_EQ(tik.special_tokens().eos, 151643);
  EXPECT_EQ(tik.encode_ids("<|im_start|><|extra_204|>"), (Ids{151644, 151850}));
  EXPECT_EQ(tik.vocab_size(), 151643u + 208u);
  EXPECT_EQ(tik.decode({151644, 9707}), "<|im_start|>Hello");
  EXPECT_EQ(tik.decode({151644, 9707}, true), "Hello");
}

TEST(TokenizerFactory, ConfigNamesSpecialTokens) {
  TempDir dir;
  copy(downloaded_path("gpt2/encoder.json"), dir.file("vocab.json"));
  copy(downloaded_path("gpt2/vocab.bpe"), dir.file("merges.txt"));
  write_file(dir.file("tokenizer_config.json"),
             R"({"bos_token": {"content": "<|endoftext|>", "lstrip": false}, "eos_token": "<|endoftext|>",
                 "pad_token": null, "add_bos_token": true})");
  write_file(dir.file("special_tokens_map.json"), R"({"pad_token": "!", "eos_token": "\""})");
  const auto tok = tokenizer::load_tokenizer(dir.path());
  EXPECT_EQ(tok->special_tokens().bos, 50256);
  EXPECT_EQ(tok->special_tokens().eos, 50256);  // tokenizer_config.json wins
  EXPECT_EQ(tok->special_tokens().pad, 0);      // "!" from special_tokens_map.json
  EXPECT_EQ(tok->encode_ids("Hello", true), (Ids{50256, 15496}));
  EXPECT_EQ(tok->encode_ids("Hello", false), (Ids{15496}));
  write_file(dir.file("tokenizer_config.json"), R"({"bos_token": 42})");
  EXPECT_NE(input_error_of([&] { tokenizer::load_tokenizer(dir.path()); }).find("bos_token"), std::string::npos);
  write_file(dir.file("tokenizer_config.json"), R"({"bos_token": )");
  EXPECT_NE(input_error_of([&] { tokenizer::load_tokenizer(dir.path()); }).find("tokenizer_config.json"),
            std::string::npos);
}

TEST(TokenizerFactory, FingerprintsFollowTheFiles) {
  const auto a = tokenizer::load_tokenizer(downloaded_path("llama2"));
  const auto b = tokenizer::load_tokenizer(downloaded_path("llama2/tokenizer.json"));
  EXPECT_EQ(a->fingerprint(), b->fingerprint());
  EXPECT_EQ(a->fingerprint().size(), 16u);
  EXPECT_NE(a->fingerprint(), shared_tokenizer("qwen3").fingerprint());
  EXPECT_NE(shared_tokenizer("gpt2").fingerprint(), shared_tokenizer("qwen-tiktoken").fingerprint());
}

TEST(TokenizerTiktoken, MalformedRanksFiles) {
  TempDir dir;
  auto load = [&](const std::string& body) {
    write_file(dir.file("qwen.tiktoken"), body);
    return input_error_of([&] { tokenizer::load_tokenizer(dir.file("qwen.tiktoken")); });
  };
  EXPECT_NE(load("IQ== 0\nIg== 1 2\n").find("line 2"), std::string::npos);
  EXPECT_NE(load("IQ== 0\n!!!! 1\n").find("not base64"), std::string::npos);
  EXPECT_NE(load("IQ== zero\n").find("not a rank"), std::string::npos);
  EXPECT_NE(load("IQ== 0\n").find("has no rank"), std::string::npos);  // bytes 0x00.. missing
  EXPECT_NE(load("\n\n").find("no ranks"), std::string::npos);
}

TEST(TokenizerTiktoken, SmallRanksFile) {
  // All 256 bytes (rank = byte) plus "ab" (256) and "abc" (257).
  const char* b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  auto encode64 = [&](const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); i += 3) {
      std::uint32_t v = static_cast<unsigned char>(s[i]) << 16;
      if (i + 1 < s.size()) v |= static_cast<unsigned char>(s[i + 1]) << 8;
      if (i + 2 < s.size()) v |= static_cast<unsigned char>(s[i + 2]);
      out += b64[(v >> 18) & 63];
      out += b64[(v >> 12) & 63];
      out += i + 1 < s.size() ? b64[(v >> 6) & 63] : '=';
      out += i + 2 < s.size() ? b64[v & 63] : '=';
    }
    return out;
  };
  std::string body;
  for (int b = 0; b < 256; ++b) body += encode64(std::string(1, static_cast<char>(b))) + " " + std::to_string(b) + "\n";
  body += encode64("ab") + " 256\n" + encode64("abc") + " 257\n";
  TempDir dir;
  write_file(dir.file("qwen.tiktoken"), body);
  const auto tok = tokenizer::load_tokenizer(dir.path());
  EXPECT_EQ(tok->encode_ids("abcab"), (Ids{257, 256}));
  EXPECT_EQ(tok->encode_ids("<|endoftext|>x"), (Ids{258, 'x'}));  // specials follow the last rank
  EXPECT_EQ(tok->decode({257, 0xE2, 0x82}), "abc\xEF\xBF\xBD");
  // NFC runs over the whole text before special tokens are found.
  EXPECT_EQ(tok->encode_ids("e\xCC\x81"), (Ids{0xC3, 0xA9}));
}

TEST(TokenizerSentencePiece, BrownModel) {
  const auto& sp = shared_tokenizer("brown-spm");
  EXPECT_EQ(sp.kind(), "sentencepiece");
  EXPECT_FALSE(sp.lossless());
  EXPECT_EQ(sp.vocab_size(), 2000u);
  EXPECT_EQ(sp.special_tokens().unk, 0);
  EXPECT_EQ(sp.special_tokens().bos, 1);
  EXPECT_EQ(sp.special_tokens().eos, 2);
  tokenizer::EncodeOptions o;
  o.offsets = true;
  const std::string text = "The jury said it did find that the election was conducted.";
  const auto e = sp.encode(text, o);
  ASSERT_FALSE(e.ids.empty());
  ASSERT_EQ(e.offsets.size(), e.ids.size());
  EXPECT_EQ(e.offsets.front().begin, 0u);
  EXPECT_EQ(e.offsets.back().end, text.size());
  EXPECT_EQ(sp.decode(e.ids), text);
  EXPECT_EQ(sp.encode_ids(text, true).front(), 1);
  EXPECT_EQ(sp.decode(sp.encode_ids(text, true), true), text);
  // The user-defined piece is one token; an unseen character falls back to bytes.
  const auto sep = sp.token_to_id("<sep>");
  ASSERT_TRUE(sep.has_value());
  const auto with_sep = sp.encode_ids("a<sep>b");
  EXPECT_NE(std::find(with_sep.begin(), with_sep.end(), *sep), with_sep.end());
  EXPECT_EQ(sp.decode(sp.encode_ids("\xE4\xB8\xAD")), "\xE4\xB8\xAD");  // 中: byte fallback
  EXPECT_FALSE(sp.token_to_id("no-such-piece-here").has_value());
  EXPECT_EQ(sp.decode({-5, 99999}), "");  // out-of-range ids are skipped
}

}  // namespace
}  // namespace distill::testing
