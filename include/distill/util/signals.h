// SIGINT/SIGTERM as a request to stop: the first one sets a flag that the training loop polls
// between steps (finish the step, save a checkpoint, exit 5); a second one ends the process at once.
// SIGPIPE and every other signal keep their default action.
#pragma once

namespace distill::signals {

// Installs the handlers for SIGINT and SIGTERM (idempotent) and clears the flag. The handler is
// async-signal-safe: on the first signal it stores the signal number in a lock-free atomic and
// writes one fixed line to stderr; on a second signal (of either kind) it restores the default
// action and re-raises, so the process dies of that signal (exit status 128 + N in a shell). Every
// file distill writes is replaced atomically, so dying at any point leaves the last complete
// checkpoint intact.
void install_stop_handlers();
// Puts back the handlers that were there before install_stop_handlers() and clears the flag.
void uninstall_stop_handlers();

// True once SIGINT or SIGTERM has arrived since install_stop_handlers(). Cheap: one atomic load.
bool stop_requested();
// The signal that asked to stop (SIGINT or SIGTERM), 0 if none.
int stop_signal();
// "SIGINT", "SIGTERM", ... or "signal N".
const char* signal_name(int signal);

// Installs on construction, uninstalls on destruction (for the scope of a training run).
class StopSignalScope {
 public:
  StopSignalScope() { install_stop_handlers(); }
  ~StopSignalScope() { uninstall_stop_handlers(); }
  StopSignalScope(const StopSignalScope&) = delete;
  StopSignalScope& operator=(const StopSignalScope&) = delete;
};

}  // namespace distill::signals
