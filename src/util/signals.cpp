// The stop-request handler: an atomic flag on the first SIGINT/SIGTERM, default action on the second.
#include "distill/util/signals.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>

namespace distill::signals {
namespace {

std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs a lock-free atomic");

struct sigaction g_previous_int {};
struct sigaction g_previous_term {};
bool g_installed = false;

void write_all(const char* text, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(STDERR_FILENO, text, size);
    if (n <= 0) return;  // nothing else is safe to do here
    text += n;
    size -= static_cast<std::size_t>(n);
  }
}

// Only async-signal-safe calls: atomic exchange, write, sigaction, raise.
extern "C" void on_stop_signal(int sig) {
  const int saved_errno = errno;
  if (g_stop_signal.exchange(sig) == 0) {
    static const char kFirst[] =
        "distill: stop requested: finishing the current step, saving a checkpoint, then exiting "
        "(send the signal again to exit at once)\n";
    write_all(kFirst, sizeof kFirst - 1);
    errno = saved_errno;
    return;
  }
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigemptyset(&dfl.sa_mask);
  ::sigaction(sig, &dfl, nullptr);
  // `sig` is blocked while its handler runs; it is delivered, with the default action, on return.
  ::raise(sig);
  errno = saved_errno;
}

}  // namespace

void install_stop_handlers() {
  g_stop_signal.store(0);
  if (g_installed) return;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  ::sigemptyset(&action.sa_mask);
  // A second signal of the other kind waits until the first handler returns.
  ::sigaddset(&action.sa_mask, SIGINT);
  ::sigaddset(&action.sa_mask, SIGTERM);
  action.sa_flags = SA_RESTART;  // interrupted reads and writes resume instead of failing with EINTR
  ::sigaction(SIGINT, &action, &g_previous_int);
  ::sigaction(SIGTERM, &action, &g_previous_term);
  g_installed = true;
}

void uninstall_stop_handlers() {
  if (g_installed) {
    ::sigaction(SIGINT, &g_previous_int, nullptr);
    ::sigaction(SIGTERM, &g_previous_term, nullptr);
    g_installed = false;
  }
  g_stop_signal.store(0);
}

bool stop_requested() { return g_stop_signal.load(std::memory_order_relaxed) != 0; }

int stop_signal() { return g_stop_signal.load(); }

const char* signal_name(int signal) {
  switch (signal) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGKILL: return "SIGKILL";
    case SIGHUP: return "SIGHUP";
    case SIGPIPE: return "SIGPIPE";
    default: break;
  }
  static thread_local char text[32];
  std::snprintf(text, sizeof text, "signal %d", signal);
  return text;
}

}  // namespace distill::signals
