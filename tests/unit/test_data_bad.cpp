// Bad data: each case is counted and reported, never a crash; a dataset left empty is exit 3.
#include <gtest/gtest.h>

#include "data_test_helpers.h"
#include "distill/data/shards.h"
#include "distill/util/sha256.h"

namespace distill::data {
namespace {

using namespace test;
using testing::TempDir;

struct Built {
  std::shared_ptr<const Dataset> ds;
  Json meta;
  std::vector<std::string> texts;
};

Built build(const TempDir& dir, const std::string& name, const std::string& content, BuildOptions o = {}) {
  testing::write_file(dir.file(name), content);
  const auto base = options({dir.file(name)}, dir.file(name + ".out"));
  o.inputs = base.inputs;
  o.output_dir = base.output_dir;
  o.threads = base.threads;
  o.progress_every_s = base.progress_every_s;
  Built b;
  b.meta = build_dataset(gpt2(), o).meta;
  b.ds = Dataset::open(dir.file(name + ".out"));
  for (std::int64_t d = 0; d < b.ds->num_documents(); ++d) b.texts.emplace_back(b.ds->text(d));
  return b;
}

std::int64_t skipped(const Built& b, const char* reason) {
  const auto& s = b.meta["counts"]["skipped"];
  return s.contains(reason) ? s[reason].get<std::int64_t>() : 0;
}

// "\xff" and "\xfe" are two maximal invalid subparts: two U+FFFD (EF BF BD); "\xe2\x82" (a cut
// three-byte sequence) is one.
const std::string kBad = "ok \xff\xfe then \xe2\x82 end";
const std::string kRepaired = "ok \xEF\xBF\xBD\xEF\xBF\xBD then \xEF\xBF\xBD end";

TEST(DataBad, InvalidUtf8IsRepairedWithReplacementCharacters) {
  TempDir dir;
  const Built t = build(dir, "a.txt", "fine\n" + kBad + "\n");
  EXPECT_EQ(t.texts, (std::vector<std::string>{"fine", kRepaired}));
  EXPECT_EQ(t.meta["counts"]["repaired_utf8"], 1);
  EXPECT_EQ(t.ds->tokens(1), gpt2().encode_ids(kRepaired));
  // Inside a JSON line, too (JSON itself must be UTF-8, so the line is repaired before parsing).
  const Built j = build(dir, "b.jsonl", "{\"text\": \"" + kBad + "\"}\n");
  EXPECT_EQ(j.texts, std::vector<std::string>{kRepaired});
  EXPECT_EQ(j.meta["counts"]["repaired_utf8"], 1);
}

TEST(DataBad, InvalidUtf8CanBeSkipped) {
  TempDir dir;
  BuildOptions o;
  o.read.skip_invalid_utf8 = true;
  const Built t = build(dir, "a.txt", "fine\n" + kBad + "\n", o);
  EXPECT_EQ(t.texts, std::vector<std::string>{"fine"});
  EXPECT_EQ(skipped(t, skip::kInvalidUtf8), 1);
  const Built j = build(dir, "b.jsonl", "{\"text\": \"" + kBad + "\"}\n{\"text\": \"fine\"}\n", o);
  EXPECT_EQ(skipped(j, skip::kInvalidUtf8), 1);
}

TEST(DataBad, EmptyDocumentsAreSkippedAndCounted) {
  TempDir dir;
  const Built t = build(dir, "a.txt", "x\n\n   \n\t\ny\n");
  EXPECT_EQ(t.texts, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(skipped(t, skip::kEmpty), 3);
  const Built j = build(dir, "b.jsonl",
                        "{\"text\": \"\"}\n{\"text\": \" \\n \"}\n{\"input_ids\": []}\n\n{\"text\": \"z\"}\n");
  EXPECT_EQ(j.texts, std::vector<std::string>{"z"});
  EXPECT_EQ(skipped(j, skip::kEmpty), 4);
}

TEST(DataBad, MissingOrMistypedFieldsAreSkippedAndCounted) {
  TempDir dir;
  const Built j = build(dir, "a.jsonl",
                        "{\"content\": \"no text field\"}\n"
                        "{\"text\": 42}\n"
                        "{\"text\": null}\n"
                        "[1, 2]\n"
                        "not json at all\n"
                        "{\"input_ids\": [1, -2]}\n"
                        "{\"input_ids\": \"12\"}\n"
                        "{\"input_ids\": [1, 99999999]}\n"
                        "{\"text\": \"kept\"}\n");
  EXPECT_EQ(j.texts, std::vector<std::string>{"kept"});
  EXPECT_EQ(skipped(j, skip::kMissingField), 1);
  EXPECT_EQ(skipped(j, skip::kNotAString), 2);
  EXPECT_EQ(skipped(j, skip::kNotAnObject), 1);
  EXPECT_EQ(skipped(j, skip::kInvalidJson), 1);
  EXPECT_EQ(skipped(j, skip::kBadInputIds), 3);
}

TEST(DataBad, TruncatedLastLine) {
  TempDir dir;
  // .txt without a final newline: the last line is a document like any other.
  const Built t = build(dir, "a.txt", "first\nlast without newline");
  EXPECT_EQ(t.texts, (std::vector<std::string>{"first", "last without newline"}));
  // JSON lines cut inside the last object: that record is skipped as truncated, the rest kept.
  const Built j = build(dir, "b.jsonl", "{\"text\": \"whole\"}\n{\"text\": \"cut in the mid");
  EXPECT_EQ(j.texts, std::vector<std::string>{"whole"});
  EXPECT_EQ(skipped(j, skip::kTruncatedLastLine), 1);
  EXPECT_EQ(skipped(j, skip::kInvalidJson), 0);
  // A complete last object without a newline is fine.
  const Built k = build(dir, "c.jsonl", "{\"text\": \"one\"}\n{\"text\": \"two\"}");
  EXPECT_EQ(k.texts, (std::vector<std::string>{"one", "two"}));
  // A .json array cut short is one unusable file, counted; other inputs still count.
  testing::write_file(dir.file("d.json"), "[\"one\", \"tw");
  testing::write_file(dir.file("e.txt"), "other\n");
  const BuildResult r = build_dataset(gpt2(), options({dir.file("d.json"), dir.file("e.txt")}, dir.file("de")));
  EXPECT_EQ(r.meta["counts"]["skipped"][skip::kInvalidJsonFile], 1);
  EXPECT_EQ(r.meta["counts"]["documents"], 1);
}

// A 50 MB document on one line streams through (one line held at a time) and is split by the
// length rule; its pieces hold all its tokens and its text.
TEST(DataBad, FiftyMegabyteLine) {
  TempDir dir;
  const std::string unit = "the quick brown fox jumps over the lazy dog. ";
  const std::size_t repeats = ((50u << 20) + unit.size() - 1) / unit.size();
  std::string big;
  big.reserve(repeats * unit.size());
  for (std::size_t i = 0; i < repeats; ++i) big += unit;
  testing::write_file(dir.file("big.txt"), "small before\n" + big + "\nsmall after\n");
  // Tokens of `repeats` units: the first unit, then each further one adds the same count (words
  // are pre-tokenized separately, the final space is a token of its own).
  const std::int64_t t1 = static_cast<std::int64_t>(gpt2().encode_ids(unit).size());
  const std::int64_t t2 = static_cast<std::int64_t>(gpt2().encode_ids(unit + unit).size());
  ASSERT_EQ(static_cast<std::int64_t>(gpt2().encode_ids(unit + unit + unit).size()), t1 + 2 * (t2 - t1));
  const std::int64_t expected_tokens = t1 + static_cast<std::int64_t>(repeats - 1) * (t2 - t1);

  auto o = options({dir.file("big.txt")}, dir.file("out"));
  o.max_tokens = length_limit(0.8, 1 << 20);
  const BuildResult r = build_dataset(gpt2(), o);
  const auto ds = Dataset::open(dir.file("out"));
  const std::int64_t pieces = (expected_tokens + o.max_tokens - 1) / o.max_tokens;
  ASSERT_EQ(ds->num_documents(), pieces + 2);
  EXPECT_EQ(ds->text(0), "small before");
  EXPECT_EQ(ds->text(pieces + 1), "small after");
  Sha256 text_hash;
  std::int64_t tokens = 0;
  for (std::int64_t d = 1; d <= pieces; ++d) {
    text_hash.update(ds->text(d));
    EXPECT_LE(ds->length(d), o.max_tokens);
    EXPECT_EQ(ds->flags(d), d == 1 ? 0 : kFlagContinuation);
    tokens += ds->length(d);
  }
  EXPECT_EQ(tokens, expected_tokens);
  EXPECT_EQ(text_hash.hex_digest(), sha256_hex(big));
  EXPECT_EQ(r.meta["report"]["over_limit"]["documents"], 1);
  EXPECT_EQ(r.meta["report"]["max_tokens"], expected_tokens);
}

TEST(DataBad, DatasetLeftEmptyIsExit3NamingTheInputs) {
  TempDir dir;
  testing::write_file(dir.file("blank.txt"), "\n   \n\n");
  testing::write_file(dir.file("empty.jsonl"), "");
  testing::write_file(dir.file("nofield.jsonl"), "{\"body\": \"x\"}\n");
  try {
    build_dataset(gpt2(), options({dir.file("blank.txt"), dir.file("empty.jsonl"), dir.file("nofield.jsonl")},
                                  dir.file("out")));
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    const std::string m = e.what();
    EXPECT_CONTAINS(m, dir.file("blank.txt") + ", " + dir.file("empty.jsonl") + ", " + dir.file("nofield.jsonl"));
    EXPECT_CONTAINS(m, "no usable documents (4 skipped: 3 empty, 1 missing_field)");
  }
  EXPECT_FALSE(files::exists(dir.file("out")));
  EXPECT_EQ(files::list_directory(dir.path()).size(), 3u);  // no temporary folder left
}

TEST(DataBad, InputsThatDoNotExistOrHaveAnUnknownFormat) {
  TempDir dir;
  EXPECT_CONTAINS(error_of<InputError>([&] { build_dataset(gpt2(), options({dir.file("nope.txt")}, dir.file("o"))); }),
                  "nope.txt: no such file or folder");
  EXPECT_CONTAINS(error_of<InputError>([&] { build_dataset(gpt2(), options({dir.file("*.jsonl")}, dir.file("o"))); }),
                  "*.jsonl: the pattern matches no file");
  testing::write_file(dir.file("x.csv"), "a,b\n");
  EXPECT_CONTAINS(error_of<InputError>([&] { build_dataset(gpt2(), options({dir.file("x.csv")}, dir.file("o"))); }),
                  "x.csv: unknown data format '.csv'");
  files::create_directories(dir.file("emptydir"));
  EXPECT_CONTAINS(error_of<InputError>([&] { build_dataset(gpt2(), options({dir.file("emptydir")}, dir.file("o"))); }),
                  "emptydir: folder holds no .txt, .jsonl or .json files");
}

}  // namespace
}  // namespace distill::data
