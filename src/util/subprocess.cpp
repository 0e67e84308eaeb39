// Subprocess: posix_spawn with a socket for stdin (so a vanished reader gives EPIPE, never SIGPIPE),
// pipes for stdout/stderr, one poll loop for both directions, bounded waits.
#include "distill/util/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "distill/util/errors.h"

extern char** environ;

namespace distill {
namespace {

constexpr std::size_t kErrTail = 4096;

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

int ms(double seconds) {
  const double v = seconds * 1000.0;
  return v > 2e9 ? 2000000000 : v < 1 ? 1 : static_cast<int>(v);
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

Subprocess::Subprocess(const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0].empty()) throw SubprocessError(SubprocessError::Kind::kStart, "empty command");
  int in_pair[2], out_pipe[2], err_pipe[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_pair) != 0) {
    throw SubprocessError(SubprocessError::Kind::kStart, "socketpair: " + errno_text(errno));
  }
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw SubprocessError(SubprocessError::Kind::kStart, "pipe: " + errno_text(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pair[1], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);  // also descriptors opened without O_CLOEXEC
#endif
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // Its own process group, so a timeout ends what it started too (a shell's children).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  const int rc = ::posix_spawnp(&pid_, args[0], &actions, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in_pair[1]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  in_ = in_pair[0];
  out_ = out_pipe[0];
  err_ = err_pipe[0];
  if (rc != 0) {
    pid_ = -1;
    for (int fd : {in_, out_, err_}) ::close(fd);
    in_ = out_ = err_ = -1;
    throw SubprocessError(SubprocessError::Kind::kStart, "cannot start '" + argv[0] + "': " + errno_text(rc));
  }
  set_nonblocking(in_);
  set_nonblocking(out_);
  set_nonblocking(err_);
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && status_ < 0) kill_child();
  for (int fd : {in_, out_, err_}) {
    if (fd >= 0) ::close(fd);
  }
}

bool Subprocess::pump(int timeout_ms, std::string_view input, std::size_t* written) {
  pollfd fds[3];
  int n = 0, in_i = -1, out_i = -1, err_i = -1;
  if (in_ >= 0 && written && *written < input.size()) {
    fds[n] = {in_, POLLOUT, 0};
    in_i = n++;
  }
  if (!out_eof_) {
    fds[n] = {out_, POLLIN, 0};
    out_i = n++;
  }
  if (!err_eof_) {
    fds[n] = {err_, POLLIN, 0};
    err_i = n++;
  }
  if (n == 0) return false;
  const int r = ::poll(fds, static_cast<nfds_t>(n), timeout_ms);
  if (r < 0) {
    if (errno == EINTR) return true;  // a signal is not inactivity
    throw SubprocessError(SubprocessError::Kind::kIo, "poll: " + errno_text(errno));
  }
  bool moved = false;
  if (in_i >= 0 && fds[in_i].revents) {
    const ssize_t w = ::send(in_, input.data() + *written, input.size() - *written, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      *written += static_cast<std::size_t>(w);
      moved = true;
    } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
      close_stdin();  // EPIPE: the child stopped reading; what it wrote is still read below
      moved = true;
    }
  }
  char buf[65536];
  if (out_i >= 0 && fds[out_i].revents) {
    const ssize_t got = ::read(out_, buf, sizeof buf);
    if (got > 0) out_buf_.append(buf, static_cast<std::size_t>(got));
    else if (got == 0 || (errno != EAGAIN && errno != EINTR)) out_eof_ = true;
    moved = true;
  }
  if (err_i >= 0 && fds[err_i].revents) {
    const ssize_t got = ::read(err_, buf, sizeof buf);
    if (got > 0) {
      err_tail_.append(buf, static_cast<std::size_t>(got));
      if (err_tail_.size() > kErrTail) err_tail_.erase(0, err_tail_.size() - kErrTail);
    } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
      err_eof_ = true;
    }
    moved = true;
  }
  return moved;
}

std::vector<std::string> Subprocess::exchange(std::string_view input, std::size_t lines, double timeout_s) {
  using Clock = std::chrono::steady_clock;
  const auto limit = std::chrono::duration<double>(timeout_s);
  auto last_move = Clock::now();
  std::size_t written = 0, complete = 0, scanned = 0;
  auto count_lines = [&] {
    for (; scanned < out_buf_.size(); ++scanned) {
      if (out_buf_[scanned] == '\n') ++complete;
    }
  };
  count_lines();
  while (complete < lines) {
    if (out_eof_) {
      throw SubprocessError(SubprocessError::Kind::kExited, "the command closed its output after " +
                                                                std::to_string(complete) + " of " +
                                                                std::to_string(lines) + " expected lines");
    }
    const double left = timeout_s - std::chrono::duration<double>(Clock::now() - last_move).count();
    if (left <= 0 || !pump(ms(left), input, &written)) {
      if (Clock::now() - last_move >= limit) {
        kill_child();
        throw SubprocessError(SubprocessError::Kind::kTimeout,
                              "no progress for " + seconds_text(timeout_s) + " (" +
                                  std::to_string(complete) + " of " + std::to_string(lines) + " lines answered)");
      }
      continue;
    }
    last_move = Clock::now();
    count_lines();
  }
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i < lines; ++i) {
    const std::size_t nl = out_buf_.find('\n', start);
    out.push_back(out_buf_.substr(start, nl - start));
    start = nl + 1;
  }
  out_buf_.erase(0, start);
  return out;
}

void Subprocess::close_stdin() {
  if (in_ < 0) return;
  ::shutdown(in_, SHUT_WR);
  ::close(in_);
  in_ = -1;
}

int Subprocess::finish(double timeout_s, std::string* rest) {
  close_stdin();
  using Clock = std::chrono::steady_clock;
  auto last_move = Clock::now();
  while (!out_eof_ || !err_eof_) {
    const double left = timeout_s - std::chrono::duration<double>(Clock::now() - last_move).count();
    if (left <= 0) {
      kill_child();
      throw SubprocessError(SubprocessError::Kind::kTimeout, "it did not exit within " + seconds_text(timeout_s) +
                                                                 " of the end of its input");
    }
    if (pump(ms(left), {}, nullptr)) last_move = Clock::now();
  }
  if (rest) *rest = std::move(out_buf_);
  out_buf_.clear();
  const int code = reap(ms(timeout_s));
  if (code < 0) {
    kill_child();
    throw SubprocessError(SubprocessError::Kind::kTimeout, "it closed its output but did not exit");
  }
  return code;
}

int Subprocess::reap(int timeout_ms) {
  if (status_ >= 0) return exit_code(status_);
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      status_ = status;
      return exit_code(status);
    }
    if (r < 0 && errno != EINTR) {
      status_ = 0;
      return 1;
    }
    if (std::chrono::steady_clock::now() >= end) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void Subprocess::kill_child() {
  if (pid_ <= 0 || status_ >= 0) return;
  ::kill(-pid_, SIGTERM);
  if (reap(1000) >= 0) {
    ::kill(-pid_, SIGKILL);  // what it left behind in its group
    return;
  }
  ::kill(-pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  status_ = status;
}

}  // namespace distill
