// `distill export RUN_DIR --out DIR [--step N] [--dtype]`: a checkpoint's student as an HF folder.
#include <iostream>
#include <memory>

#include "distill/checkpoint/export.h"
#include "distill/cli/commands.h"
#include "distill/models/loader.h"

namespace distill::cli {
namespace {

struct ExportCliOptions {
  std::string run_dir;
  std::string out;
  std::int64_t step = -1;
  std::string dtype;
};

}  // namespace

Command add_export(CLI::App& root) {
  auto opts = std::make_shared<ExportCliOptions>();
  CLI::App* sub = root.add_subcommand("export", "export a trained student as a Hugging Face folder");
  sub->add_option("run_dir", opts->run_dir, "the run directory (checkpoint.dir)")->required();
  sub->add_option("--out", opts->out, "folder to create (must not exist)")->required();
  sub->add_option("--step", opts->step, "checkpoint step (default: the newest that verifies)");
  sub->add_option("--dtype", opts->dtype, "fp32 | bf16 | fp16 (default: the student's config.json dtype)");
  Command cmd;
  cmd.app = sub;
  cmd.run = [opts]() -> int {
    checkpoint::ExportOptions o;
    if (opts->step >= 0) o.step = opts->step;
    if (!opts->dtype.empty()) o.dtype = models::parse_dtype(opts->dtype, "--dtype");
    const std::int64_t step = checkpoint::export_student(opts->run_dir, opts->out, o);
    std::cout << "exported step " << step << " to " << opts->out << "\n";
    return 0;
  };
  return cmd;
}

}  // namespace distill::cli
