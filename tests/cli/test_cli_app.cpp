// The root command: help, version, subcommand dispatch, usage errors, log levels and log format.
#include <gtest/gtest.h>

#include "test_support.h"

namespace distill {
namespace {

using testing::run_distill;

bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

TEST(CliApp, HelpListsEverySubcommand) {
  const auto r = run_distill({"--help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char* cmd : {"train", "eval", "tokenize", "encode", "forward", "generate", "export", "bench", "inspect",
                          "init-student"}) {
    EXPECT_TRUE(contains(r.out, cmd)) << cmd << " missing from --help:\n" << r.out;
  }
}

TEST(CliApp, VersionNamesDistillLibTorchAndCuda) {
  const auto r = run_distill({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "distill 0.")) << r.out;
  EXPECT_TRUE(contains(r.out, "LibTorch ")) << r.out;
  EXPECT_TRUE(contains(r.out, "CUDA devices: ")) << r.out;
}

TEST(CliApp, NoSubcommandPrintsHelpAndExits2) {
  const auto r = run_distill({});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.out, "Subcommands")) << r.out;
}

TEST(CliApp, UnknownSubcommandExits2) {
  const auto r = run_distill({"distil-me"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "distill: error:")) << r.err;
  EXPECT_TRUE(contains(r.err, "distil-me")) << r.err;
}

TEST(CliApp, UnknownFlagExits2WithHint) {
  const auto r = run_distill({"inspect", "--frobnicate", "x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "--frobnicate")) << r.err;
  EXPECT_TRUE(contains(r.err, "distill: hint:")) << r.err;
}

TEST(CliApp, InitStudentWithoutTeacherExits2NamingTheFlag) {
  const auto r = run_distill({"init-student", "--out", "x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "--teacher")) << r.err;
}

TEST(CliApp, BadLogLevelFlagExits2) {
  const auto r = run_distill({"--log-level", "chatty", "--version"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "chatty")) << r.err;
}

TEST(CliApp, BadLogLevelEnvironmentExits2) {
  const auto r = run_distill({"--version"}, {}, {"DISTILL_LOG_LEVEL=loud"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "DISTILL_LOG_LEVEL")) << r.err;
}

// Under cron stderr is a file or pipe: log lines carry a full timestamp and no colour codes.
TEST(CliApp, LogLinesArePlainWhenStderrIsNotATerminal) {
  const auto r = run_distill({"forward", "--model", testing::data_path("models/gpt2"), "--input",
                              testing::data_path("golden/gpt2.safetensors"), "--output", "/dev/null"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, " info wrote logits")) << r.err;
  EXPECT_FALSE(contains(r.err, "\x1b[")) << "colour escape codes in non-terminal output";
}

TEST(CliApp, LogLevelWarnSilencesInfo) {
  const auto r = run_distill({"--log-level", "warn", "forward", "--model", testing::data_path("models/gpt2"), "--input",
                              testing::data_path("golden/gpt2.safetensors"), "--output", "/dev/null"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(contains(r.err, "wrote logits")) << r.err;
}

}  // namespace
}  // namespace distill
