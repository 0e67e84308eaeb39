// SIGINT/SIGTERM handling, in forked children: the first signal only sets the flag, the second kills.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

#include "distill/util/signals.h"

namespace distill::testing {
namespace {

struct Outcome {
  bool exited = false;
  int code = -1;    // exit status when exited
  int signal = 0;   // terminating signal otherwise
  std::string err;  // what the child wrote to stderr
};

// Runs `body` in a child process with stderr captured; the child's exit status is body's result.
Outcome in_child(const std::function<int()>& body) {
  int err[2];
  if (::pipe(err) != 0) return {};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(err[1], STDERR_FILENO);
    ::close(err[0]);
    ::close(err[1]);
    ::_exit(body());
  }
  ::close(err[1]);
  Outcome out;
  char buf[512];
  for (ssize_t n; (n = ::read(err[0], buf, sizeof buf)) > 0;) out.err.append(buf, static_cast<std::size_t>(n));
  ::close(err[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  out.exited = WIFEXITED(status);
  out.code = out.exited ? WEXITSTATUS(status) : -1;
  out.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return out;
}

TEST(StopSignals, FirstSignalSetsTheFlagAndTheProcessCarriesOn) {
  for (int sig : {SIGTERM, SIGINT}) {
    const Outcome out = in_child([sig] {
      signals::install_stop_handlers();
      if (signals::stop_requested()) return 1;
      ::raise(sig);
      if (!signals::stop_requested() || signals::stop_signal() != sig) return 2;
      return 5;  // what the trainer does after saving
    });
    EXPECT_TRUE(out.exited) << signals::signal_name(sig) << " killed the child";
    EXPECT_EQ(out.code, 5) << signals::signal_name(sig);
    EXPECT_NE(out.err.find("stop requested: finishing the current step, saving a checkpoint"), std::string::npos) << out.err;
  }
}

TEST(StopSignals, SecondSignalEndsTheProcessAtOnce) {
  const Outcome out = in_child([] {
    signals::install_stop_handlers();
    ::raise(SIGINT);
    ::raise(SIGTERM);
    return 0;  // not reached
  });
  EXPECT_FALSE(out.exited);
  EXPECT_EQ(out.signal, SIGTERM);
}

TEST(StopSignals, UninstallRestoresThePreviousAction) {
  const Outcome out = in_child([] {
    {
      signals::StopSignalScope scope;
      ::raise(SIGTERM);
      if (!signals::stop_requested()) return 1;
    }
    if (signals::stop_requested()) return 2;  // cleared
    ::raise(SIGTERM);                         // default action again
    return 0;
  });
  EXPECT_FALSE(out.exited) << "exit code " << out.code;
  EXPECT_EQ(out.signal, SIGTERM);
}

TEST(StopSignals, Names) {
  EXPECT_STREQ(signals::signal_name(SIGTERM), "SIGTERM");
  EXPECT_STREQ(signals::signal_name(SIGINT), "SIGINT");
  EXPECT_STREQ(signals::signal_name(77), "signal 77");
}

}  // namespace
}  // namespace distill::testing
