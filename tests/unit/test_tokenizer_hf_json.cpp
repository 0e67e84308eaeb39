// tokenizer.json loading on small hand-written files: byte-level and SentencePiece-style pipelines,
// merges in both forms, added tokens, offsets, decoders, and the errors for files we cannot use.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "distill/tokenizer/byte_level.h"
#include "distill/tokenizer/tokenizer.h"
#include "distill/util/errors.h"
#include "test_support.h"

namespace distill::tokenizer {
namespace {

using json = nlohmann::json;
using Ids = std::vector<TokenId>;
const std::string kMeta = "\xE2\x96\x81";  // ▁

// A byte-level BPE: the 256 byte tokens (ids 0..255, id == byte), then "Ġh" (256) and "Ġhi" (257).
json byte_level_json(bool merges_as_pairs) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level::from_bytes(std::string(1, static_cast<char>(b)))] = b;
  vocab["\xC4\xA0h"] = 256;
  vocab["\xC4\xA0hi"] = 257;
  json merges = merges_as_pairs ? json::array({json::array({"\xC4\xA0", "h"}), json::array({"\xC4\xA0h", "i"})})
                                : json::array({"\xC4\xA0 h", "\xC4\xA0h i"});
  return {
      {"version", "1.0"},
      {"added_tokens", json::array({{{"id", 300}, {"content", "<|end|>"}, {"special", true}, {"normalized", false}},
                                    {{"id", 301}, {"content", "wow"}, {"special", false}, {"normalized", true},
                                     {"lstrip", true}}})},
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"post_processor", {{"type", "ByteLevel"}, {"trim_offsets", false}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}},
  };
}

// A SentencePiece-style BPE (LLaMA-2 layout): <unk> <s> </s>, the 256 <0xNN> tokens, then pieces.
json sentencepiece_json() {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  vocab[kMeta] = 259;
  vocab["h"] = 260;
  vocab["i"] = 261;
  vocab[kMeta + "h"] = 262;
  vocab[kMeta + "hi"] = 263;
  return {
      {"added_tokens", json::array({{{"id", 1}, {"content", "<s>"}, {"special", true}, {"normalized", false}},
                                    {{"id", 2}, {"content", "</s>"}, {"special", true}, {"normalized", false}}})},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers", json::array({{{"type", "Prepend"}, {"prepend", kMeta}},
                                     {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kMeta}}})}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", json::array({1})}, {"tokens", json::array({"<s>"})}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", kMeta}}}, {"content", " "}},
                                  {{"type", "ByteFallback"}},
                                  {{"type", "Fuse"}},
                                  {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}}},
      {"model",
       {{"type", "BPE"},
        {"unk_token", "<unk>"},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"vocab", vocab},
        {"merges", json::array({kMeta + " h", kMeta + "h i"})}}},
  };
}

std::unique_ptr<Tokenizer> load_json(const testing::TempDir& dir, const json& j, const std::string& name = "tokenizer.json") {
  testing::write_file(dir.file(name), j.dump());
  return load_tokenizer(dir.file(name));
}

Encoding encode_with_offsets(const Tokenizer& t, std::string_view text, bool special = false) {
  EncodeOptions o;
  o.offsets = true;
  o.add_special_tokens = special;
  return t.encode(text, o);
}

TEST(TokenizerHfJson, ByteLevelPipeline) {
  testing::TempDir dir;
  const auto tok = load_json(dir, byte_level_json(false));
  EXPECT_EQ(tok->kind(), "hf-bpe");
  EXPECT_TRUE(tok->lossless());
  const Encoding e = encode_with_offsets(*tok, "a hi!");
  EXPECT_EQ(e.ids, (Ids{'a', 257, '!'}));
  EXPECT_EQ(e.offsets, (std::vector<Offset>{{0, 1}, {1, 4}, {4, 5}}));
  EXPECT_EQ(tok->decode(e.ids), "a hi!");
  EXPECT_EQ(tok->vocab_size(), 302u);
  EXPECT_EQ(*tok->id_to_token(257), "\xC4\xA0hi");
  EXPECT_EQ(tok->token_to_id("<|end|>"), 300);
  // A character split over byte tokens: each token's offsets cover the whole character.
  const Encoding emoji = encode_with_offsets(*tok, "\xF0\x9F\x98\x80");
  EXPECT_EQ(emoji.ids, (Ids{0xF0, 0x9F, 0x98, 0x80}));
  EXPECT_EQ(emoji.offsets, (std::vector<Offset>(4, Offset{0, 4})));
}

TEST(TokenizerHfJson, MergeFormsAgree) {
  testing::TempDir a, b;
  const auto strings = load_json(a, byte_level_json(false));
  const auto pairs = load_json(b, byte_level_json(true));
  for (const char* text : {"hi hi", " hi", "hhii", "x hi y"}) EXPECT_EQ(strings->encode_ids(text), pairs->encode_ids(text)) << text;
  EXPECT_NE(strings->fingerprint(), pairs->fingerprint());
}

TEST(TokenizerHfJson, AddedTokensAreSplitOutFirst) {
  testing::TempDir dir;
  const auto tok = load_json(dir, byte_level_json(true));
  const Encoding e = encode_with_offsets(*tok, "a<|end|> hi");
  EXPECT_EQ(e.ids, (Ids{'a', 300, 257}));
  EXPECT_EQ(e.offsets, (std::vector<Offset>{{0, 1}, {1, 8}, {8, 11}}));
  EXPECT_TRUE(tok->is_special(300));
  EXPECT_EQ(tok->decode(e.ids), "a<|end|> hi");
  EXPECT_EQ(tok->decode(e.ids, true), "a hi");
  // "wow" is a normal (non-special) added token with lstrip: it swallows the space before it.
  const Encoding w = encode_with_offsets(*tok, "hi wow");
  EXPECT_EQ(w.ids, (Ids{'h', 'i', 301}));
  EXPECT_EQ(w.offsets.back(), (Offset{2, 6}));
  EXPECT_EQ(tok->decode(w.ids, true), "hiwow");
}

TEST(TokenizerHfJson, SentencePieceStylePipeline) {
  testing::TempDir dir;
  const auto tok = load_json(dir, sentencepiece_json());
  EXPECT_TRUE(tok->lossless());
  const Encoding e = encode_with_offsets(*tok, "hi hi");
  EXPECT_EQ(e.ids, (Ids{263, 263}));
  // The prepended ▁ belongs to the first character; the second ▁ stands for the space.
  EXPECT_EQ(e.offsets, (std::vector<Offset>{{0, 2}, {2, 5}}));
  EXPECT_EQ(tok->decode(e.ids), "hi hi");
  EXPECT_EQ(tok->encode_ids("hi", true), (Ids{1, 263}));
  // Unknown characters fall back to bytes, which decode back to the character.
  const Encoding fallback = encode_with_offsets(*tok, "\xC3\xA9");
  EXPECT_EQ(fallback.ids, (Ids{259, 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(fallback.offsets, (std::vector<Offset>{{0, 2}, {0, 2}, {0, 2}}));
  EXPECT_EQ(tok->decode(fallback.ids), "\xC3\xA9");
  EXPECT_EQ(tok->decode({259, 3 + 0xC3}), "\xEF\xBF\xBD");  // half a character: one U+FFFD per byte
  // Each piece between special tokens gets its own ▁ (as in HF).
  EXPECT_EQ(tok->encode_ids("<s>hi"), (Ids{1, 263}));
  EXPECT_EQ(tok->special_tokens().unk, 0);
}

TEST(TokenizerHfJson, MetaspacePreTokenizerAndDecoder) {
  json j = sentencepiece_json();
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", kMeta}, {"prepend_scheme", "first"}, {"split", false}};
  j["decoder"] = {{"type", "Metaspace"}, {"replacement", kMeta}, {"prepend_scheme", "first"}};
  testing::TempDir dir;
  const auto tok = load_json(dir, j);
  EXPECT_EQ(tok->encode_ids("hi hi"), (Ids{263, 263}));
  EXPECT_EQ(tok->decode({263, 263}), "hi hi");
  // "first": no ▁ for text that follows a special token.
  EXPECT_EQ(tok->encode_ids("<s>hi"), (Ids{1, 260, 261}));
}

TEST(TokenizerHfJson, InvalidUtf8IsReadAsReplacementCharacters) {
  testing::TempDir dir;
  const auto tok = load_json(dir, byte_level_json(true));
  const Encoding e = encode_with_offsets(*tok, "a\xFF" "b");
  EXPECT_EQ(e.ids, (Ids{'a', 0xEF, 0xBF, 0xBD, 'b'}));  // U+FFFD's bytes
  EXPECT_EQ(e.offsets, (std::vector<Offset>{{0, 1}, {1, 2}, {1, 2}, {1, 2}, {2, 3}}));  // input bytes
}

// ---- files we cannot use: InputError (exit 3) naming the file and what is wrong
void expect_input_error(const std::string& body, const std::string& needle) {
  testing::TempDir dir;
  testing::write_file(dir.file("tokenizer.json"), body);
  try {
    load_tokenizer(dir.path());
    FAIL() << "expected InputError containing '" << needle << "'";
  } catch (const InputError& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find(dir.file("tokenizer.json")), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(TokenizerHfJson, MalformedFilesAreInputErrors) {
  const std::string good = byte_level_json(false).dump();
  expect_input_error(good.substr(0, good.size() / 2), "invalid JSON");
  expect_input_error("[1, 2]", "expected a JSON object");
  json j = byte_level_json(false);
  j["model"] = {{"type", "WordPiece"}, {"vocab", {{"a", 0}}}};
  expect_input_error(j.dump(), "model type 'WordPiece' is not supported");
  j["model"] = {{"type", "Unigram"}, {"vocab", json::array()}};
  expect_input_error(j.dump(), "model type 'Unigram' is not supported");
  j = byte_level_json(false);
  j["model"]["merges"].push_back("\xC4\xA0hi zz");
  expect_input_error(j.dump(), "merge #3");
  j = byte_level_json(false);
  j["model"]["merges"].push_back("a b c");
  expect_input_error(j.dump(), "not two tokens");
  j = byte_level_json(false);
  j["normalizer"] = {{"type", "Lowercase"}};
  expect_input_error(j.dump(), "normalizer type 'Lowercase' is not supported");
  j = byte_level_json(false);
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  expect_input_error(j.dump(), "pre-tokenizer type 'Whitespace' is not supported");
  j = byte_level_json(false);
  j["model"]["dropout"] = 0.1;
  expect_input_error(j.dump(), "dropout");
  j = byte_level_json(false);
  j["model"].erase("vocab");
  expect_input_error(j.dump(), "vocab");
  j = byte_level_json(false);
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}, {"invert", false}};
  expect_input_error(j.dump(), "cannot compile regex");
}

}  // namespace
}  // namespace distill::tokenizer
