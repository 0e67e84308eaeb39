// AtomicFile: temp file beside the target, full writes, fsync, rename, fsync of the directory.
#include "distill/io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "distill/util/errors.h"

namespace distill::io {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what, int err) {
  throw OutputError(path, what + ": " + errno_text(err));
}

// "dir/name" -> {"dir", "name"}; "name" -> {".", "name"}.
std::pair<std::string, std::string> split_path(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  const std::string name = split_path(path_).second;
  if (name.empty()) throw OutputError(path_, "cannot write a file: the path names a directory");
  // Same directory as the target (rename is atomic only within one file system).
  const std::string base = path_.substr(0, path_.size() - name.size()) + "." + name + ".tmp." + std::to_string(::getpid());
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  // O_EXCL: never write into (or delete) a file we did not create. The name is taken when another
  // AtomicFile of this process writes the same target, or a dead process with our pid left it.
  for (int attempt = 0; attempt < 100; ++attempt) {
    temp_path_ = attempt == 0 ? base : base + "." + std::to_string(attempt);
    fd_ = ::open(temp_path_.c_str(), flags, 0666);
    if (fd_ >= 0 || errno != EEXIST) break;
  }
  if (fd_ < 0) fail(path_, "cannot create temporary file " + temp_path_, errno);
  // Replacing a file keeps its permission bits.
  struct stat old {};
  if (::stat(path_.c_str(), &old) == 0 && S_ISREG(old.st_mode)) ::fchmod(fd_, old.st_mode & 07777);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_path_.c_str());
}

void AtomicFile::write(const void* data, std::size_t size) {
  if (fd_ < 0) throw OutputError(path_, "write after commit or after a failed write");
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd_);
      fd_ = -1;
      fail(path_, "write failed", err);
    }
    if (n == 0) {
      ::close(fd_);
      fd_ = -1;
      throw OutputError(path_, "write failed: the system accepted no bytes");
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

void AtomicFile::commit() {
  if (fd_ < 0) throw OutputError(path_, "commit after a failed write or a second commit");
  if (::fsync(fd_) != 0) fail(path_, "fsync failed", errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail(path_, "close failed", errno);
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) fail(path_, "cannot rename " + temp_path_ + " over it", errno);
  committed_ = true;
  // Make the rename itself durable.
  const std::string dir = split_path(path_).first;
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) fail(path_, "cannot open directory " + dir + " to fsync it", errno);
  const int rc = ::fsync(dir_fd);
  const int err = errno;
  ::close(dir_fd);
  // Some file systems cannot fsync a directory (EINVAL); the rename is then as durable as they allow.
  if (rc != 0 && err != EINVAL) fail(path_, "fsync of directory " + dir + " failed", err);
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  AtomicFile file(path);
  file.write(contents);
  file.commit();
}

}  // namespace distill::io
