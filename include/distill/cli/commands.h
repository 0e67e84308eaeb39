// Subcommand registration: each cli/cmd_*.cpp adds its options to the root app and returns its runner.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace distill::cli {

// A registered subcommand: CLI11 parses into options captured by `run`, which then does the work
// and returns the exit code.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

Command add_inspect(CLI::App& root);
Command add_train(CLI::App& root);
Command add_forward(CLI::App& root);
Command add_bench(CLI::App& root);
Command add_export(CLI::App& root);
Command add_encode(CLI::App& root);
Command add_tokenize(CLI::App& root);
Command add_eval(CLI::App& root);
Command add_generate(CLI::App& root);
Command add_report(CLI::App& root);
Command add_init_student(CLI::App& root);

// Text for `distill --version`: distill's version, the LibTorch version and the CUDA devices seen.
std::string version_text();

}  // namespace distill::cli
