// `distill train`: resolves the config (file + --set overrides) and runs the job; --dry-run prints the config.
#include <iostream>
#include <memory>
#include <vector>

#include "distill/cli/commands.h"
#include "distill/config/config.h"
#include "distill/checkpoint/run_dir.h"
#include "distill/train/session.h"
#include "distill/util/errors.h"

namespace distill::cli {
namespace {

struct TrainOptions {
  std::string config_path;
  std::vector<std::string> overrides;
  bool dry_run = false;
  std::string resume = "auto";
};

}  // namespace

Command add_train(CLI::App& root) {
  auto opts = std::make_shared<TrainOptions>();
  CLI::App* sub = root.add_subcommand("train", "distil a teacher into a student (config-driven)");
  sub->add_option("--config", opts->config_path, "JSON config file (keys: docs/config.md)")->required();
  sub->add_option("--set", opts->overrides,
                  "override a key: --set train.lr=3e-4 (repeatable; values are JSON or plain strings)")
      ->allow_extra_args(false);
  sub->add_flag("--dry-run", opts->dry_run, "print the resolved config as JSON and exit");
  sub->add_option("--resume", opts->resume,
                  "auto: continue from the run directory's newest checkpoint if any (default); always: require "
                  "one; never: refuse a run directory that has checkpoints");
  Command cmd;
  cmd.app = sub;
  cmd.run = [opts]() -> int {
    const config::Config cfg = config::load(opts->config_path, opts->overrides);
    if (opts->dry_run) {
      std::cout << config::to_json(cfg).dump(2) << "\n";
      return 0;
    }
    const checkpoint::ResumeMode mode = checkpoint::parse_resume_mode(opts->resume);
    const train::TrainResult result = train::run_training(cfg, mode);
    std::cout << "trained to step " << result.steps_done << " (run directory " << cfg.checkpoint.dir << ")\n";
    return 0;
  };
  return cmd;
}

}  // namespace distill::cli
