// Test helpers: temp dirs, file I/O and a fork/exec runner for the distill binary.
#include "test_support.h"

#include "distill/util/errors.h"
#include "distill/util/files.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <tuple>

namespace distill::testing {

std::string data_path(const std::string& relative) {
  return std::string(DISTILL_TEST_DATA_DIR) + "/" + relative;
}

TempDir::TempDir() : path_(files::make_temp_directory("distill-test-")) {}

TempDir::~TempDir() { files::remove_tree(path_); }

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw std::runtime_error("cannot write " + path);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

RunResult run_distill(const std::vector<std::string>& args, const std::string& stdin_text,
                      const std::vector<std::string>& env) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe(in_pipe) || pipe(out_pipe) || pipe(err_pipe)) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
    for (const auto& kv : env) putenv(const_cast<char*>(kv.c_str()));
    std::vector<char*> argv;
    std::string bin = DISTILL_BINARY;
    argv.push_back(bin.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  signal(SIGPIPE, SIG_IGN);

  RunResult result;
  size_t written = 0;
  int in_fd = in_pipe[1];
  if (stdin_text.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  bool out_open = true, err_open = true;
  char buf[65536];
  while (out_open || err_open) {
    pollfd fds[3];
    int n = 0;
    int out_i = -1, err_i = -1, in_i = -1;
    if (out_open) { fds[n] = {out_pipe[0], POLLIN, 0}; out_i = n++; }
    if (err_open) { fds[n] = {err_pipe[0], POLLIN, 0}; err_i = n++; }
    if (in_fd >= 0) { fds[n] = {in_fd, POLLOUT, 0}; in_i = n++; }
    if (poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (in_i >= 0 && fds[in_i].revents) {
      ssize_t w = write(in_fd, stdin_text.data() + written, stdin_text.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if (w <= 0 || written == stdin_text.size()) { close(in_fd); in_fd = -1; }
    }
    for (auto [idx, fd, target, open] : {std::tuple{out_i, out_pipe[0], &result.out, &out_open},
                                         std::tuple{err_i, err_pipe[0], &result.err, &err_open}}) {
      if (idx < 0 || !fds[idx].revents) continue;
      ssize_t r = read(fd, buf, sizeof buf);
      if (r > 0) target->append(buf, static_cast<size_t>(r));
      else *open = false;
    }
  }
  if (in_fd >= 0) close(in_fd);
  close(out_pipe[0]);
  close(err_pipe[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) result.exit_code = 128 + WTERMSIG(status);
  return result;
}

int output_error_when_file_too_big(const std::function<void(const std::function<void(std::uint64_t)>& limit)>& body,
                                   const std::function<bool(const std::string& message)>& message_ok) {
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int status = 11;  // no exception
    try {
      body([](std::uint64_t bytes) {
        ::signal(SIGXFSZ, SIG_IGN);
        const rlimit limit{static_cast<rlim_t>(bytes), static_cast<rlim_t>(bytes)};
        if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(10);
      });
    } catch (const OutputError& e) {
      const std::string m = e.what();
      status = m.find(std::strerror(EFBIG)) != std::string::npos && message_ok(m) ? 0 : 12;
    } catch (...) {
      status = 13;
    }
    ::_exit(status);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

}  // namespace distill::testing

// ---- model fixtures (model_fixtures.h)
#include "model_fixtures.h"

namespace distill::testing {

std::string model_dir(const std::string& name) { return data_path("models/" + name); }
std::string golden_path(const std::string& name) { return data_path("golden/" + name + ".safetensors"); }

double max_rel_error(const at::Tensor& actual, const at::Tensor& expected) {
  const at::Tensor a = actual.to(at::kDouble), b = expected.to(at::kDouble);
  const double scale = b.abs().max().item<double>();
  const double diff = (a - b).abs().max().item<double>();
  return scale > 0 ? diff / scale : diff;
}

}  // namespace distill::testing
