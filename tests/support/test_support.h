// Helpers shared by the tests: fixture paths, temporary directories, running the distill binary.
#pragma once

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

}  // namespace distill::testing
