// build_dataset: formats, the round trip back to the texts, the byte layout of the shard files,
// uint16/uint32 ids, several shards, the length rule, no-op re-runs and rebuilds.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <utime.h>

#include <cstring>

#include "data_test_helpers.h"
#include "distill/data/shards.h"

namespace distill::data {
namespace {

using namespace test;
using testing::TempDir;

std::string jsonl(const std::vector<std::string>& texts) {
  std::string s;
  for (const auto& t : texts) s += nlohmann::json{{"text", t}}.dump() + "\n";
  return s;
}

std::vector<std::string> texts_of(const Dataset& ds) {
  std::vector<std::string> out;
  for (std::int64_t d = 0; d < ds.num_documents(); ++d) out.emplace_back(ds.text(d));
  return out;
}

template <typename T>
T read_le(const std::string& bytes, std::size_t at) {
  T v;
  std::memcpy(&v, bytes.data() + at, sizeof v);
  return v;
}

const std::vector<std::string> kTexts = {
    "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election.",
    "naïve café, 日本語のテキスト, emoji 🙂👍🏽 and a tab\there",
    "def f(x):\n    return x * 2  # code",
    "  leading and trailing spaces  ",
};

TEST(DataTokenize, RoundTripDecodesBackToTheTexts) {
  TempDir dir;
  testing::write_file(dir.file("in.jsonl"), jsonl(kTexts));
  const BuildResult r = build_dataset(gpt2(), options({dir.file("in.jsonl")}, dir.file("out")));
  EXPECT_TRUE(r.rebuilt);
  const auto ds = Dataset::open(dir.file("out"));
  ASSERT_EQ(ds->num_documents(), static_cast<std::int64_t>(kTexts.size()));
  for (std::size_t i = 0; i < kTexts.size(); ++i) {
    const auto d = static_cast<std::int64_t>(i);
    EXPECT_EQ(ds->tokens(d), gpt2().encode_ids(kTexts[i])) << i;
    EXPECT_EQ(gpt2().decode(ds->tokens(d)), kTexts[i]) << i;
    EXPECT_EQ(ds->text(d), kTexts[i]);
    EXPECT_EQ(ds->source(d), 0u);
    EXPECT_EQ(ds->label(d), -1);
  }
  EXPECT_EQ(ds->eos(), kGpt2Eos);
  EXPECT_EQ(ds->token_bytes(), 2u);
  EXPECT_EQ(r.meta["dtype"], "uint16");
  EXPECT_EQ(r.meta["tokenizer"]["fingerprint"], gpt2().fingerprint());
}

// The files follow docs/data.md's byte layout, read here by hand.
TEST(DataTokenize, ShardFilesFollowTheDocumentedLayout) {
  TempDir dir;
  testing::write_file(dir.file("in.txt"), "hello world\nsecond document here\n");
  build_dataset(gpt2(), options({dir.file("in.txt")}, dir.file("out")));
  const auto a = gpt2().encode_ids("hello world"), b = gpt2().encode_ids("second document here");

  const std::string tokens = testing::read_file(dir.file("out/shard-00000.tokens"));
  ASSERT_EQ(tokens.size(), 32 + 2 * (a.size() + b.size()));
  EXPECT_EQ(tokens.substr(0, 8), std::string("DSTLTOK\0", 8));
  EXPECT_EQ(read_le<std::uint32_t>(tokens, 8), 1u);   // version
  EXPECT_EQ(read_le<std::uint32_t>(tokens, 12), 2u);  // bytes per id
  EXPECT_EQ(read_le<std::uint64_t>(tokens, 16), a.size() + b.size());
  EXPECT_EQ(read_le<std::uint64_t>(tokens, 24), 0u);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(read_le<std::uint16_t>(tokens, 32 + 2 * i), a[i]);
  for (std::size_t i = 0; i < b.size(); ++i) EXPECT_EQ(read_le<std::uint16_t>(tokens, 32 + 2 * (a.size() + i)), b[i]);

  const std::string index = testing::read_file(dir.file("out/shard-00000.index"));
  const std::size_t n = 2;
  ASSERT_EQ(index.size(), 32 + 16 * (n + 1) + 9 * n);
  EXPECT_EQ(index.substr(0, 8), std::string("DSTLIDX\0", 8));
  EXPECT_EQ(read_le<std::uint32_t>(index, 12), 8u);
  EXPECT_EQ(read_le<std::uint64_t>(index, 16), n);
  const std::size_t tok_off = 32, text_off = tok_off + 8 * (n + 1), src = text_off + 8 * (n + 1);
  EXPECT_EQ(read_le<std::uint64_t>(index, tok_off + 0), 0u);
  EXPECT_EQ(read_le<std::uint64_t>(index, tok_off + 8), a.size());
  EXPECT_EQ(read_le<std::uint64_t>(index, tok_off + 16), a.size() + b.size());
  EXPECT_EQ(read_le<std::uint64_t>(index, text_off + 8), 11u);
  EXPECT_EQ(read_le<std::uint64_t>(index, text_off + 16), 11u + 20u);
  EXPECT_EQ(read_le<std::uint32_t>(index, src), 0u);
  EXPECT_EQ(read_le<std::int32_t>(index, src + 4 * n), -1);  // label
  EXPECT_EQ(static_cast<std::uint8_t>(index[src + 8 * n]), 0u);  // flags

  const std::string text = testing::read_file(dir.file("out/shard-00000.text"));
  EXPECT_EQ(text.substr(0, 8), std::string("DSTLTXT\0", 8));
  EXPECT_EQ(read_le<std::uint64_t>(text, 16), 31u);
  EXPECT_EQ(text.substr(32), "hello worldsecond document here");
}

TEST(DataTokenize, LargeVocabularyGivesUint32Ids) {
  TempDir dir;
  testing::write_file(dir.file("in.jsonl"), jsonl(kTexts));
  const auto& qwen = testing::shared_tokenizer("qwen3");
  ASSERT_GT(qwen.vocab_size(), 65536u);
  const BuildResult r = build_dataset(qwen, options({dir.file("in.jsonl")}, dir.file("out")));
  EXPECT_EQ(r.meta["dtype"], "uint32");
  const auto ds = Dataset::open(dir.file("out"));
  EXPECT_EQ(ds->token_bytes(), 4u);
  std::size_t total = 0;
  bool above_uint16 = false;
  for (std::size_t i = 0; i < kTexts.size(); ++i) {
    const auto expected = qwen.encode_ids(kTexts[i]);
    EXPECT_EQ(ds->tokens(static_cast<std::int64_t>(i)), expected);
    for (auto id : expected) above_uint16 = above_uint16 || id > 65535;
    total += expected.size();
  }
  EXPECT_TRUE(above_uint16) << "the test texts should need ids above 65535";
  const std::string tokens = testing::read_file(dir.file("out/shard-00000.tokens"));
  EXPECT_EQ(tokens.size(), 32 + 4 * total);
  EXPECT_EQ(read_le<std::uint32_t>(tokens, 12), 4u);
}

TEST(DataTokenize, TxtLinesOrParagraphs) {
  TempDir dir;
  testing::write_file(dir.file("in.txt"), "a b\r\nc\n\n\nd e\nf\n");
  auto o = options({dir.file("in.txt")}, dir.file("lines"));
  build_dataset(gpt2(), o);
  EXPECT_EQ(texts_of(*Dataset::open(dir.file("lines"))), (std::vector<std::string>{"a b", "c", "d e", "f"}));
  o.output_dir = dir.file("paras");
  o.read.paragraphs = true;
  const BuildResult r = build_dataset(gpt2(), o);
  EXPECT_EQ(texts_of(*Dataset::open(dir.file("paras"))), (std::vector<std::string>{"a b\nc", "d e\nf"}));
  EXPECT_FALSE(r.meta["counts"]["skipped"].contains("empty"));  // separators are not empty documents
}

TEST(DataTokenize, JsonArraysObjectsAndPretokenizedLines) {
  TempDir dir;
  testing::write_file(dir.file("strings.json"), R"(["first", "second"])");
  testing::write_file(dir.file("records.json"), R"([{"body": "third"}, {"body": "fourth"}])");
  testing::write_file(dir.file("lines.json"), "{\"body\": \"fifth\"}\n{\"body\": \"sixth\"}\n");
  testing::write_file(dir.file("ids.jsonl"), "{\"input_ids\": [10, 20, 30]}\n{\"body\": \"seventh\"}\n");
  auto o = options({dir.file("strings.json"), dir.file("records.json"), dir.file("lines.json"), dir.file("ids.jsonl")},
                   dir.file("out"));
  o.read.text_field = "body";
  const BuildResult r = build_dataset(gpt2(), o);
  const auto ds = Dataset::open(dir.file("out"));
  EXPECT_EQ(texts_of(*ds), (std::vector<std::string>{"first", "second", "third", "fourth", "fifth", "sixth", "", "seventh"}));
  EXPECT_EQ(ds->tokens(6), (std::vector<std::int32_t>{10, 20, 30}));
  EXPECT_EQ(ds->flags(6), kFlagPretokenized);
  EXPECT_EQ(ds->source(7), 3u);
  EXPECT_EQ(r.meta["counts"]["pretokenized_documents"], 1);
  EXPECT_EQ(r.meta["sources"][0]["documents"], 2);
}

TEST(DataTokenize, RealNlpCorpusJsonFile) {
  TempDir dir;
  const std::string file = testing::downloaded_path("nlp-corpus/doc-0.json");
  const auto records = nlohmann::json::parse(testing::read_file(file));
  build_dataset(gpt2(), options({file}, dir.file("out")));
  const auto ds = Dataset::open(dir.file("out"));
  std::int64_t non_blank = 0;
  for (const auto& r : records) non_blank += r.get<std::string>().find_first_not_of(" \t\r\n") != std::string::npos;
  ASSERT_EQ(ds->num_documents(), non_blank);
  EXPECT_EQ(ds->text(0), records[0].get<std::string>());
}

TEST(DataTokenize, FoldersAndGlobsExpandSorted) {
  TempDir dir;
  files::create_directories(dir.file("data/sub"));
  testing::write_file(dir.file("data/b.txt"), "from b\n");
  testing::write_file(dir.file("data/a.txt"), "from a\n");
  testing::write_file(dir.file("data/sub/c.jsonl"), "{\"text\": \"from c\"}\n");
  testing::write_file(dir.file("data/notes.csv"), "ignored\n");
  testing::write_file(dir.file("data/.hidden.txt"), "ignored\n");
  build_dataset(gpt2(), options({dir.file("data")}, dir.file("out1")));
  EXPECT_EQ(texts_of(*Dataset::open(dir.file("out1"))), (std::vector<std::string>{"from a", "from b", "from c"}));
  build_dataset(gpt2(), options({dir.file("data/*.txt"), dir.file("data/a.txt")}, dir.file("out2")));
  EXPECT_EQ(texts_of(*Dataset::open(dir.file("out2"))), (std::vector<std::string>{"from a", "from b"}));  // no duplicate
}

TEST(DataTokenize, SameInputsAreANoOpAndChangesRebuild) {
  TempDir dir;
  const std::string in = dir.file("in.txt");
  testing::write_file(in, "one\ntwo\n");
  auto o = options({in}, dir.file("out"));
  const BuildResult first = build_dataset(gpt2(), o);
  ASSERT_TRUE(first.rebuilt);
  const BuildResult again = build_dataset(gpt2(), o);
  EXPECT_FALSE(again.rebuilt);
  EXPECT_EQ(again.meta["created"], first.meta["created"]);
  EXPECT_EQ(again.meta["build_key"], first.meta["build_key"]);

  // A changed file (size and mtime) rebuilds.
  testing::write_file(in, "one\ntwo\nthree\n");
  const BuildResult changed = build_dataset(gpt2(), o);
  EXPECT_TRUE(changed.rebuilt);
  EXPECT_EQ(Dataset::open(dir.file("out"))->num_documents(), 3);
  // Same size, other content, other mtime: rebuilds too.
  testing::write_file(in, "one\ntwo\nthreE\n");
  struct utimbuf times{1000000000, 1000000000};
  ASSERT_EQ(::utime(in.c_str(), &times), 0);
  EXPECT_TRUE(build_dataset(gpt2(), o).rebuilt);
  EXPECT_EQ(Dataset::open(dir.file("out"))->text(2), "threE");
  // Another content option, or another tokenizer.
  o.add_special_tokens = false;
  EXPECT_TRUE(build_dataset(gpt2(), o).rebuilt);
  EXPECT_FALSE(build_dataset(gpt2(), o).rebuilt);
  EXPECT_TRUE(build_dataset(testing::shared_tokenizer("qwen3"), o).rebuilt);
  EXPECT_EQ(Dataset::open(dir.file("out"))->tokenizer_fingerprint(), testing::shared_tokenizer("qwen3").fingerprint());
  // force rebuilds an up-to-date dataset; nothing is left beside it.
  o.force = true;
  EXPECT_TRUE(build_dataset(testing::shared_tokenizer("qwen3"), o).rebuilt);
  EXPECT_EQ(files::list_directory(dir.path()), (std::vector<std::string>{"in.txt", "out"}));
}

TEST(DataTokenize, DamagedDatasetIsRefusedAndRebuilt) {
  TempDir dir;
  testing::write_file(dir.file("in.txt"), "one two three\nfour\n");
  auto o = options({dir.file("in.txt")}, dir.file("out"));
  build_dataset(gpt2(), o);
  const std::string tokens = testing::read_file(dir.file("out/shard-00000.tokens"));
  testing::write_file(dir.file("out/shard-00000.tokens"), tokens.substr(0, tokens.size() - 2));
  EXPECT_CONTAINS(error_of<InputError>([&] { Dataset::open(dir.file("out")); }),
                  "shard-00000.tokens: size does not match its header (truncated?)");
  EXPECT_TRUE(build_dataset(gpt2(), o).rebuilt);
  EXPECT_EQ(Dataset::open(dir.file("out"))->num_documents(), 2);
}

TEST(DataTokenize, RefusesToReplaceAFolderThatIsNotADataset) {
  TempDir dir;
  testing::write_file(dir.file("in.txt"), "x\n");
  files::create_directories(dir.file("out"));
  testing::write_file(dir.file("out/precious.txt"), "keep me");
  EXPECT_CONTAINS(error_of<UsageError>([&] { build_dataset(gpt2(), options({dir.file("in.txt")}, dir.file("out"))); }),
                  "exists and is not a tokenized dataset");
  EXPECT_EQ(testing::read_file(dir.file("out/precious.txt")), "keep me");
}

TEST(DataTokenize, SeveralShardsNeverSplitADocument) {
  TempDir dir;
  std::vector<std::string> texts;
  for (int i = 0; i < 40; ++i) texts.push_back("document number " + std::to_string(i) + " has a few words in it");
  testing::write_file(dir.file("in.jsonl"), jsonl(texts));
  auto o = options({dir.file("in.jsonl")}, dir.file("out"));
  o.shard_tokens = 50;
  const BuildResult r = build_dataset(gpt2(), o);
  EXPECT_GT(r.meta["shards"].size(), 3u);
  const auto ds = Dataset::open(dir.file("out"));
  ASSERT_EQ(ds->num_documents(), 40);
  std::int64_t before = 0;
  for (std::int64_t d = 0; d < 40; ++d) {
    EXPECT_EQ(ds->tokens(d), gpt2().encode_ids(texts[static_cast<std::size_t>(d)]));
    EXPECT_EQ(ds->tokens_before(d), before);
    before += ds->length(d);
  }
  EXPECT_EQ(ds->num_tokens(), before);
}

TEST(DataTokenize, LengthLimitIsEightyPercentOfTheContext) {
  EXPECT_EQ(length_limit(0.8, 2048), 1638);
  EXPECT_EQ(length_limit(0.8, 10), 8);
  EXPECT_EQ(length_limit(0.8, 0), 0);
}

// A document over the limit becomes pieces of `limit` tokens whose texts partition the original.
TEST(DataTokenize, LongDocumentsAreSplit) {
  TempDir dir;
  const std::string text =
      "The jury further said in term-end presentments that the City Executive Committee, which had over-all "
      "charge of the election, deserves the praise and thanks of the City of Atlanta.";
  const auto ids = gpt2().encode_ids(text);
  ASSERT_GT(ids.size(), 20u);
  testing::write_file(dir.file("in.jsonl"), jsonl({"short one", text}));
  auto o = options({dir.file("in.jsonl")}, dir.file("out"));
  o.max_tokens = length_limit(0.8, 10);  // 8
  const BuildResult r = build_dataset(gpt2(), o);
  const auto ds = Dataset::open(dir.file("out"));
  const std::int64_t pieces = (static_cast<std::int64_t>(ids.size()) + 7) / 8;
  ASSERT_EQ(ds->num_documents(), 1 + pieces);
  std::vector<std::int32_t> joined;
  std::string joined_text;
  for (std::int64_t d = 1; d <= pieces; ++d) {
    const auto t = ds->tokens(d);
    EXPECT_EQ(static_cast<std::int64_t>(t.size()), d < pieces ? 8 : static_cast<std::int64_t>(ids.size()) - 8 * (pieces - 1));
    EXPECT_EQ(ds->flags(d), d == 1 ? 0 : kFlagContinuation);
    joined.insert(joined.end(), t.begin(), t.end());
    joined_text += ds->text(d);
    // Each piece's text decodes from its own tokens (GPT-2 tokens here end on character boundaries).
    EXPECT_EQ(std::string(ds->text(d)), gpt2().decode(t));
  }
  EXPECT_EQ(joined, ids);
  EXPECT_EQ(joined_text, text);
  EXPECT_EQ(r.meta["counts"]["over_limit_documents"], 1);
  EXPECT_EQ(r.meta["counts"]["split_pieces"], pieces);
  EXPECT_EQ(r.meta["report"]["over_limit"]["share"], 0.5);
}

TEST(DataTokenize, LongDocumentsAreCut) {
  TempDir dir;
  const std::string text = "one two three four five six seven eight nine ten eleven twelve";
  const auto ids = gpt2().encode_ids(text);
  testing::write_file(dir.file("in.txt"), text + "\n");
  auto o = options({dir.file("in.txt")}, dir.file("out"));
  o.max_tokens = 5;
  o.cut_long = true;
  const BuildResult r = build_dataset(gpt2(), o);
  const auto ds = Dataset::open(dir.file("out"));
  ASSERT_EQ(ds->num_documents(), 1);
  EXPECT_EQ(ds->tokens(0), std::vector<std::int32_t>(ids.begin(), ids.begin() + 5));
  EXPECT_EQ(ds->text(0), "one two three four five");
  EXPECT_EQ(r.meta["counts"]["cut_tokens"], static_cast<std::int64_t>(ids.size()) - 5);
}

TEST(DataTokenize, LabelsAreStoredPerDocument) {
  TempDir dir;
  testing::write_file(dir.file("in.jsonl"),
                      "{\"text\": \"a\", \"cat\": \"pos\"}\n{\"text\": \"b\", \"cat\": 1}\n{\"text\": \"c\"}\n"
                      "{\"text\": \"d\", \"cat\": \"pos\"}\n");
  auto o = options({dir.file("in.jsonl")}, dir.file("out"));
  o.read.label_field = "cat";
  build_dataset(gpt2(), o);
  const auto ds = Dataset::open(dir.file("out"));
  EXPECT_EQ(ds->labels(), (std::vector<std::string>{"pos", "1"}));
  EXPECT_EQ(ds->label(0), 0);
  EXPECT_EQ(ds->label(1), 1);
  EXPECT_EQ(ds->label(2), -1);
  EXPECT_EQ(ds->label(3), 0);
}

TEST(DataTokenize, WithoutTextOnlyTokensAreKept) {
  TempDir dir;
  testing::write_file(dir.file("in.txt"), "some text\n");
  auto o = options({dir.file("in.txt")}, dir.file("out"));
  o.keep_text = false;
  build_dataset(gpt2(), o);
  const auto ds = Dataset::open(dir.file("out"));
  EXPECT_FALSE(ds->has_text());
  EXPECT_EQ(ds->text(0), "");
  EXPECT_EQ(ds->tokens(0), gpt2().encode_ids("some text"));
}

TEST(DataTokenize, TokenizedFoldersAreNotInputs) {
  TempDir dir;
  testing::write_file(dir.file("in.txt"), "x\n");
  build_dataset(gpt2(), options({dir.file("in.txt")}, dir.file("out")));
  EXPECT_CONTAINS(error_of<InputError>([&] { build_dataset(gpt2(), options({dir.file("out")}, dir.file("out2"))); }),
                  "is already a tokenized dataset");
}

}  // namespace
}  // namespace distill::data
