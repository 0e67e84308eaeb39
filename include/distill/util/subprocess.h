// A child process fed through its stdin and read line by line from its stdout, with its stderr
// kept (the tail) for error messages; every wait is bounded by an inactivity timeout. No shell is
// involved unless the caller runs one ({"/bin/sh", "-c", line}).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace distill {

class SubprocessError : public std::runtime_error {
 public:
  enum class Kind { kStart, kTimeout, kExited, kIo };
  SubprocessError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

class Subprocess {
 public:
  // Starts argv (argv[0] is searched in PATH) with its own stdin, stdout and stderr, in a process
  // group of its own (killing it kills what it started); other file descriptors are not
  // inherited. SubprocessError(kStart) when it cannot be started.
  explicit Subprocess(const std::vector<std::string>& argv);
  ~Subprocess();  // kills the child (SIGKILL) if it still runs, and reaps it
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // Writes `input` to the child's stdin while reading its stdout, until `lines` more complete lines
  // have arrived; returns them without their '\n'. Writing and reading happen together (poll), so
  // a child that answers as it reads never blocks either side. When no byte moves in either
  // direction for `timeout_s` seconds the child is killed: kTimeout. The child closing its stdout
  // first: kExited.
  std::vector<std::string> exchange(std::string_view input, std::size_t lines, double timeout_s);

  // Closes the child's stdin, reads what is left (returned in *rest), waits for the exit. Returns
  // the exit code, or 128 + N when it died of signal N. Killed after `timeout_s` of inactivity: kTimeout.
  int finish(double timeout_s, std::string* rest);

  // The last few KB the child wrote to stderr.
  const std::string& stderr_tail() const { return err_tail_; }
  pid_t pid() const { return pid_; }

 private:
  bool pump(int timeout_ms, std::string_view input, std::size_t* written);  // one poll round; true if bytes moved
  void close_stdin();
  void kill_child();
  int reap(int timeout_ms);  // -1 when still running

  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  bool out_eof_ = false, err_eof_ = false;
  std::string out_buf_;
  std::string err_tail_;
  int status_ = -1;
};

}  // namespace distill
