// Atomic file replacement: write to a temp file beside the target, fsync, rename, fsync the directory.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace distill::io {

// Usage: AtomicFile f(path); f.write(...); ...; f.commit();
// If commit() is never reached (exception, early return) the temp file is removed and `path` is
// untouched. Every failure throws OutputError naming the path and the system's reason.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, std::size_t size);
  void write(std::string_view text) { write(text.data(), text.size()); }
  // fsync + rename over `path` + fsync of the parent directory.
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  bool committed_ = false;
};

// Convenience: atomically replace `path` with `contents`.
void write_file_atomic(const std::string& path, std::string_view contents);

}  // namespace distill::io
