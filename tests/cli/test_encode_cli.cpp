// `distill encode` end to end: stdin/stdout and files, special tokens, offsets, and exit 3 with the
// line number or file name for bad input lines and unusable tokenizer files.
#include <gtest/gtest.h>


#include "test_support.h"
#include "tokenizer_data.h"

namespace distill::testing {
namespace {


TEST(EncodeCli, StdinToStdout) {
  const auto r = run_distill({"encode", "--tokenizer", downloaded_path("gpt2")},
                             "{\"text\": \"Hello world\"}\n{\"text\": \"\"}\n{\"text\": \"a<|endoftext|>b\"}\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"ids\":[15496,995]}\n{\"ids\":[]}\n{\"ids\":[64,50256,65]}\n");
}

TEST(EncodeCli, FilesSpecialTokensOffsetsAndTextField) {
  TempDir dir;
  write_file(dir.file("in.jsonl"), "{\"body\": \"Hello world\", \"n\": 1}\r\n{\"body\": \"hi\"}\n");
  auto r = run_distill({"encode", "--tokenizer", downloaded_path("llama2"), "--input", dir.file("in.jsonl"), "--output",
                        dir.file("out.jsonl"), "--text-field", "body", "--add-special-tokens", "--offsets",
                        "--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(read_file(dir.file("out.jsonl")),
            "{\"ids\":[1,22557,1526],\"offsets\":[[0,0],[0,5],[5,11]]}\n"
            "{\"ids\":[1,12014],\"offsets\":[[0,0],[0,2]]}\n");
  // Without --add-special-tokens nothing is added.
  r = run_distill({"encode", "--tokenizer", downloaded_path("llama2/tokenizer.json")}, "{\"text\": \"hi\"}\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"ids\":[12014]}\n");
}

TEST(EncodeCli, BadLinesNameTheLineAndLeaveNoOutput) {
  TempDir dir;
  const std::string tok = downloaded_path("gpt2");
  write_file(dir.file("out.jsonl"), "previous\n");
  write_file(dir.file("bad.jsonl"), "{\"text\": \"ok\"}\n{\"text\": \"unterminated}\n");
  auto r = run_distill({"encode", "--tokenizer", tok, "--input", dir.file("bad.jsonl"), "--output", dir.file("out.jsonl")});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bad.jsonl"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(dir.file("out.jsonl")), "previous\n");  // untouched: the output is atomic
  EXPECT_EQ(distill::files::list_directory(dir.path()).size(), 2u);  // no temp left

  r = run_distill({"encode", "--tokenizer", tok}, "{\"text\": \"a\"}\n{\"txt\": \"b\"}\n");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("line 2: no \"text\" field"), std::string::npos) << r.err;
  r = run_distill({"encode", "--tokenizer", tok}, "[\"text\"]\n");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("line 1: expected a JSON object"), std::string::npos) << r.err;
  r = run_distill({"encode", "--tokenizer", tok}, "{\"text\": 5}\n");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("not a string"), std::string::npos) << r.err;
  r = run_distill({"encode", "--tokenizer", tok}, "{\"text\": \"a\"}\n\n{\"text\": \"b\"}\n");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("line 2: empty line"), std::string::npos) << r.err;
  r = run_distill({"encode", "--tokenizer", tok}, "{\"text\": \"\xFF\"}\n");  // JSON must be UTF-8
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("line 1: invalid JSON"), std::string::npos) << r.err;
  r = run_distill({"encode", "--tokenizer", tok, "--input", dir.file("missing.jsonl")});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("missing.jsonl"), std::string::npos) << r.err;
  r = run_distill({"encode", "--tokenizer", tok}, "");  // empty input: empty output
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(EncodeCli, UnusableTokenizerFilesExit3) {
  TempDir dir;
  const std::string good = read_file(downloaded_path("llama2/tokenizer.json"));
  auto run_with = [&](const std::string& body) {
    write_file(dir.file("tokenizer.json"), body);
    return run_distill({"encode", "--tokenizer", dir.path()}, "{\"text\": \"hi\"}\n");
  };
  auto r = run_with(good.substr(0, good.size() / 3));  // truncated
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("tokenizer.json"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("invalid JSON"), std::string::npos) << r.err;
  r = run_with(R"({"model": {"type": "WordPiece", "vocab": {"a": 0}, "unk_token": "[UNK]"}})");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("WordPiece"), std::string::npos) << r.err;
  r = run_with(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a x"]}})");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("'x', which is not in the vocabulary"), std::string::npos) << r.err;
  r = run_distill({"encode", "--tokenizer", dir.file("nowhere")}, "{\"text\": \"hi\"}\n");
  EXPECT_EQ(r.exit_code, 3);
  r = run_distill({"encode"}, "");
  EXPECT_EQ(r.exit_code, 2);  // --tokenizer is required
}

}  // namespace
}  // namespace distill::testing#include "distill/util/files.h"

