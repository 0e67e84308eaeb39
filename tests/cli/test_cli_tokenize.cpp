// `distill tokenize` end to end: flags and config modes, the report on stdout, the no-op re-run,
// progress lines under cron, exit codes.
#include <gtest/gtest.h>

#include "distill/data/dataset.h"
#include "distill/util/files.h"
#include "test_support.h"
#include "tokenizer_data.h"

namespace distill::testing {
namespace {

#define EXPECT_CONTAINS(haystack, needle) EXPECT_PRED_FORMAT2(::testing::IsSubstring, needle, haystack)

TEST(CliTokenize, FlagsTokenizeReportAndNoOp) {
  TempDir dir;
  write_file(dir.file("a.jsonl"),
             "{\"text\": \"a first document\", \"y\": \"x\"}\n{\"text\": \"\"}\n{\"text\": \"second\", \"y\": \"z\"}\n");
  const std::vector<std::string> args = {"tokenize", "--tokenizer", tokenizer_path("gpt2"), "--input", dir.file("a.jsonl"),
                                         "--output", dir.file("out"), "--label-field", "y", "--context", "10"};
  const RunResult r = run_distill(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_CONTAINS(r.out, "tokenized " + dir.file("out"));
  EXPECT_CONTAINS(r.out, "2 documents, 4 tokens (uint16)");
  EXPECT_CONTAINS(r.out, "data report: 2 documents");
  EXPECT_CONTAINS(r.out, "over the limit of 8 tokens: 0 documents");
  EXPECT_CONTAINS(r.out, "label entropy 1.000 bits of a maximum 1.000 (log2 2)");
  EXPECT_CONTAINS(r.out, "skipped: 1 (1 empty)");
  EXPECT_EQ(data::Dataset::open(dir.file("out"))->num_documents(), 2);
  const RunResult again = run_distill(args);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_CONTAINS(again.out, "up to date (nothing to do): " + dir.file("out"));
  EXPECT_CONTAINS(again.err, "is up to date");
}

TEST(CliTokenize, EmptyDatasetIsExit3) {
  TempDir dir;
  write_file(dir.file("blank.txt"), "\n\n");
  const RunResult r = run_distill({"tokenize", "--tokenizer", tokenizer_path("gpt2"), "--input", dir.file("blank.txt"),
                                   "--output", dir.file("out")});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_CONTAINS(r.err, "distill: error: " + dir.file("blank.txt") + ": no usable documents (2 skipped: 2 empty)");
  EXPECT_FALSE(files::exists(dir.file("out")));
}

TEST(CliTokenize, UsageErrors) {
  TempDir dir;
  EXPECT_EQ(run_distill({"tokenize", "--input", "x.txt", "--output", dir.file("o")}).exit_code, 2);
  EXPECT_EQ(run_distill({"tokenize", "--tokenizer", "t", "--output", dir.file("o")}).exit_code, 2);
  const RunResult both = run_distill({"tokenize", "--config", "c.json", "--input", "x.txt"});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_CONTAINS(both.err, "--config takes the tokenizer, inputs and output folder from the config");
  EXPECT_EQ(run_distill({"tokenize", "--tokenizer", tokenizer_path("gpt2"), "--input", dir.file("missing.txt"),
                         "--output", dir.file("o")})
                .exit_code,
            3);
}

TEST(CliTokenize, PlainProgressLinesWhenNotATerminal) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "line number " + std::to_string(i) + " of the corpus\n";
  write_file(dir.file("a.txt"), text);
  const RunResult r = run_distill({"tokenize", "--tokenizer", tokenizer_path("gpt2"), "--input", dir.file("a.txt"),
                                   "--output", dir.file("out"), "--progress-every", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_CONTAINS(r.err, "tokenize: 100.0%");
  EXPECT_CONTAINS(r.err, "MB/s  ETA");
  EXPECT_EQ(r.err.find('\r'), std::string::npos);  // no terminal control under cron
}

TEST(CliTokenize, ConfigTokenizesIntoTheCacheTrainReads) {
  TempDir dir;
  write_file(dir.file("train.txt"), "one\ntwo\nthree\n");
  write_file(dir.file("valid.txt"), "four\n");
  const std::string config = R"({
    "teacher": {"path": ")" + data_path("models/gpt2") + R"(", "tokenizer": ")" + tokenizer_path("gpt2") + R"("},
    "student": {"path": ")" + data_path("models/gpt2") + R"(", "tokenizer": ")" + tokenizer_path("gpt2") + R"("},
    "data": {"train": [")" + dir.file("train.txt") + R"("], "valid": [")" + dir.file("valid.txt") + R"("]},
    "checkpoint": {"dir": ")" + dir.file("run") + R"("}
  })";
  write_file(dir.file("c.json"), config);
  const RunResult r = run_distill({"tokenize", "--config", dir.file("c.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_CONTAINS(r.err, "length limit 102 tokens (0.8 x the context window of 128)");
  EXPECT_CONTAINS(r.out, "tokenized " + dir.file("run/data/train-"));
  EXPECT_CONTAINS(r.out, "tokenized " + dir.file("run/data/valid-"));
  const auto entries = files::list_directory(dir.file("run/data"));
  ASSERT_EQ(entries.size(), 2u);
  const RunResult again = run_distill({"tokenize", "--config", dir.file("c.json"), "--set", "data.seq_len=32"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_CONTAINS(again.out, "up to date (nothing to do): " + dir.file("run/data/train-"));
}

}  // namespace
}  // namespace distill::testing
