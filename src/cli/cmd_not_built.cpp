// Placeholder runner for subcommands whose issue is still open: a clear message and exit 2.
#include "distill/cli/commands.h"
#include "distill/util/errors.h"

namespace distill::cli {

Command add_not_built(CLI::App& root, const std::string& name, const std::string& description,
                      const std::string& issue) {
  CLI::App* sub = root.add_subcommand(name, description + " [not built yet]");
  sub->prefix_command();  // accept (and ignore) any arguments: the message is the same
  sub->fallthrough(false);
  Command cmd;
  cmd.app = sub;
  cmd.run = [name, issue]() -> int {
    throw UsageError("'distill " + name + "' is not built yet (tracked in issue " + issue + ")",
                     "see README.md for the commands that work today");
  };
  return cmd;
}

}  // namespace distill::cli
