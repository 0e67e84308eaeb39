// `distill report RUN_DIR`: the run as a self-contained HTML page of curves (and an eval table).
#include <cstdio>
#include <memory>
#include <string>

#include "distill/cli/commands.h"
#include "distill/report/report.h"
#include "distill/util/files.h"
#include "distill/util/logging.h"

namespace distill::cli {
namespace {

struct ReportCliOptions {
  std::string run_dir, out, eval;
};

}  // namespace

Command add_report(CLI::App& root) {
  auto opts = std::make_shared<ReportCliOptions>();
  CLI::App* sub = root.add_subcommand("report", "a training run as one self-contained HTML page of curves");
  sub->add_option("run_dir", opts->run_dir, "the run directory (checkpoint.dir)")->required();
  sub->add_option("--out", opts->out, "HTML file to write (default RUN_DIR/report.html)");
  sub->add_option("--eval", opts->eval, "a `distill eval --json` result to show as a table");
  Command cmd;
  cmd.app = sub;
  cmd.run = [opts]() {
    const std::string out = opts->out.empty() ? files::join(opts->run_dir, "report.html") : opts->out;
    const int charts = report::write_report(opts->run_dir, out, opts->eval);
    log::info("wrote {} ({} charts)", out, charts);
    std::printf("%s\n", out.c_str());
    return 0;
  };
  return cmd;
}

}  // namespace distill::cli
