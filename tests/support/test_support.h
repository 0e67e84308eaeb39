// Helpers shared by the tests: fixture paths, temporary directories, running the distill binary.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace distill::testing {

// Absolute path of a file under tests/data.
std::string data_path(const std::string& relative);

// A fresh empty directory under the system temp dir, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::string& bytes);
std::string read_file(const std::string& path);

// Result of running the real distill binary.
struct RunResult {
  int exit_code = -1;       // process exit status; 128+N when killed by signal N
  std::string out;          // stdout
  std::string err;          // stderr
};

// Runs `distill <args...>` (no shell), with optional stdin text and extra environment "K=V" entries.
RunResult run_distill(const std::vector<std::string>& args, const std::string& stdin_text = {},
                      const std::vector<std::string>& env = {});

// "Disk full", portably. Runs `body` in a forked child; `body` calls limit(bytes) to cap the size of
// the files the child writes (SIGXFSZ ignored, so an oversized write fails with EFBIG instead of
// killing it) and must then end in an OutputError. Returns the child's exit status:
//   0  OutputError whose message holds strerror(EFBIG) and satisfies `message_ok`
//   10 setrlimit failed, 11 no exception, 12 the message lacks the reason or fails `message_ok`,
//   13 another exception; any other value is the body's own ::_exit; -1 the child died by a signal.
int output_error_when_file_too_big(const std::function<void(const std::function<void(std::uint64_t)>& limit)>& body,
                                   const std::function<bool(const std::string& message)>& message_ok);
// What the codes above mean, for test failure messages.
constexpr const char* kFileTooBigCodes =
    "10: setrlimit failed, 11: no error, 12: message lacks the file or the reason, 13: wrong exception type";

}  // namespace distill::testing
