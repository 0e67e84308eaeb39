// Root command: global options, subcommand dispatch, and the one place exceptions become exit codes.
#include "distill/cli/app.h"

#include <c10/util/Exception.h>

#include <cstdio>
#include <iostream>
#include <new>
#include <vector>

#include "distill/cli/commands.h"
#include "distill/util/errors.h"
#include "distill/util/logging.h"

namespace distill::cli {
namespace {

constexpr const char* kOomHint =
    "lower train.micro_batch (raising train.grad_accum keeps the effective batch), set "
    "train.grad_checkpointing=true, lower data.seq_len or loss.chunk_tokens, or set "
    "train.auto_micro_batch=true";

// First line of a (possibly multi-line, backtrace-carrying) message.
std::string first_line(const std::string& text) {
  const auto nl = text.find('\n');
  return nl == std::string::npos ? text : text.substr(0, nl);
}

int report(ExitCode code, const std::string& message, const std::string& hint) {
  std::fflush(stdout);
  std::cerr << "distill: error: " << message << "\n";
  if (!hint.empty()) std::cerr << "distill: hint: " << hint << "\n";
  std::cerr.flush();
  return static_cast<int>(code);
}

int dispatch(int argc, char** argv) {
  CLI::App app{"distill: knowledge distillation for causal language models (teacher -> student)",
               "distill"};
  app.require_subcommand(0, 1);
  app.fallthrough();
  std::string log_level;
  bool show_version = false;
  app.add_option("--log-level", log_level,
                 "trace|debug|info|warn|error|off (default: $DISTILL_LOG_LEVEL, else info)");
  app.add_flag("--version", show_version, "print distill's version, the LibTorch version and CUDA devices");

  std::vector<Command> commands;
  commands.push_back(add_train(app));
  commands.push_back(add_eval(app));
  commands.push_back(add_tokenize(app));
  commands.push_back(add_encode(app));
  commands.push_back(add_forward(app));
  commands.push_back(add_generate(app));
  commands.push_back(add_report(app));
  commands.push_back(add_export(app));
  commands.push_back(add_bench(app));
  commands.push_back(add_inspect(app));
  commands.push_back(add_init_student(app));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11 has its own exit codes; distill's contract is 2 for every usage error.
    return report(ExitCode::kUsage, e.what(), "run 'distill --help' or 'distill <command> --help'");
  }

  log::init(log_level);
  if (show_version) {
    std::cout << version_text();
    return 0;
  }
  for (const auto& cmd : commands) {
    if (cmd.app->parsed()) return cmd.run();
  }
  std::cout << app.help();
  return static_cast<int>(ExitCode::kUsage);
}

}  // namespace

int run(int argc, char** argv) {
  try {
    return dispatch(argc, argv);
  } catch (const Error& e) {
    return report(e.code(), e.what(), e.hint());
  } catch (const c10::OutOfMemoryError& e) {
    return report(ExitCode::kOutOfMemory, "out of memory: " + first_line(e.what_without_backtrace()), kOomHint);
  } catch (const std::bad_alloc&) {
    return report(ExitCode::kOutOfMemory, "out of host memory", kOomHint);
  } catch (const c10::Error& e) {
    return report(ExitCode::kInternal, "LibTorch: " + first_line(e.what_without_backtrace()),
                  "this is a bug in distill or LibTorch; please report it with the command line");
  } catch (const std::exception& e) {
    return report(ExitCode::kInternal, e.what(), "this is a bug in distill; please report it with the command line");
  } catch (...) {
    return report(ExitCode::kInternal, "unknown exception", "this is a bug in distill; please report it");
  }
}

}  // namespace distill::cli
