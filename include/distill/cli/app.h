// The command-line front end: parses argv, runs one subcommand, maps every error to an exit code.
#pragma once

namespace distill::cli {

// Runs distill with the given arguments and returns the process exit code (docs/exit-codes.md).
// Never throws: every exception is reported as one line on stderr.
int run(int argc, char** argv);

}  // namespace distill::cli
