// AtomicFile: commit replaces, anything short of commit leaves the old file and no temp file behind.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "distill/util/files.h"
#include "distill/io/atomic_file.h"
#include "distill/util/errors.h"
#include "test_support.h"

namespace distill::testing {
namespace {

std::vector<std::string> entries(const std::string& dir) {
  return files::list_directory(dir);  // sorted
}

const std::vector<std::string> kOnlyTarget = {"target.bin"};

TEST(AtomicFile, CommitCreatesTheFile) {
  TempDir dir;
  io::AtomicFile f(dir.file("target.bin"));
  f.write("hello ");
  f.write(std::string_view("world"));
  f.commit();
  EXPECT_EQ(read_file(dir.file("target.bin")), "hello world");
  EXPECT_EQ(entries(dir.path()), kOnlyTarget);
}

TEST(AtomicFile, CommitReplacesAndKeepsPermissions) {
  TempDir dir;
  const std::string path = dir.file("target.bin");
  write_file(path, "old contents");
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  io::write_file_atomic(path, "new");
  EXPECT_EQ(read_file(path), "new");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_EQ(entries(dir.path()), kOnlyTarget);
}

TEST(AtomicFile, TempFileSitsBesideTheTargetUntilCommit) {
  TempDir dir;
  const std::string path = dir.file("target.bin");
  write_file(path, "old");
  io::AtomicFile f(path);
  f.write("partial");
  const std::string temp = ".target.bin.tmp." + std::to_string(::getpid());
  EXPECT_EQ(entries(dir.path()), (std::vector<std::string>{temp, "target.bin"}));
  EXPECT_EQ(read_file(path), "old");  // readers still see the old file
  f.commit();
  EXPECT_EQ(read_file(path), "partial");
  EXPECT_EQ(entries(dir.path()), kOnlyTarget);
}

TEST(AtomicFile, ExceptionBeforeCommitLeavesOldFileAndNoTemp) {
  TempDir dir;
  const std::string path = dir.file("target.bin");
  write_file(path, "old contents");
  try {
    io::AtomicFile f(path);
    f.write("half of the new con");
    throw std::runtime_error("interrupted");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(read_file(path), "old contents");
  EXPECT_EQ(entries(dir.path()), kOnlyTarget);
}

TEST(AtomicFile, TwoWritersOfOneTargetDoNotCollide) {
  TempDir dir;
  const std::string path = dir.file("target.bin");
  io::AtomicFile first(path);
  io::AtomicFile second(path);  // same pid, same target: must get its own temp file
  first.write("first");
  second.write("second");
  first.commit();
  EXPECT_EQ(read_file(path), "first");
  second.commit();
  EXPECT_EQ(read_file(path), "second");
  EXPECT_EQ(entries(dir.path()), kOnlyTarget);
}

TEST(AtomicFile, MissingDirectoryIsOutputErrorNamingThePath) {
  TempDir dir;
  const std::string path = dir.file("missing/target.bin");
  try {
    io::AtomicFile f(path);
    ADD_FAILURE() << "created a file in a missing directory";
  } catch (const OutputError& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind(path + ": ", 0), 0u) << m;
    EXPECT_NE(m.find(std::strerror(ENOENT)), std::string::npos) << m;
  }
}

// "Disk full", portably: a child process whose file-size limit is 4 KiB (SIGXFSZ ignored, so the
// write fails with EFBIG instead of killing it) writes 1 MiB. Its exit status says what happened.
TEST(AtomicFile, WriteFailureIsOutputErrorAndKeepsOldFile) {
  TempDir dir;
  const std::string path = dir.file("target.bin");
  write_file(path, "old contents");
  const int code = testing::output_error_when_file_too_big(
      [&](const auto& limit) {
        limit(4096);
        io::AtomicFile f(path);
        const std::string big(1 << 20, 'x');
        f.write(big.data(), big.size());
        f.commit();
      },
      [&](const std::string& m) { return m.rfind(path + ": ", 0) == 0; });
  EXPECT_EQ(code, 0) << testing::kFileTooBigCodes;
  EXPECT_EQ(read_file(path), "old contents");
  EXPECT_EQ(entries(dir.path()), kOnlyTarget);
}

TEST(AtomicFile, WriteAfterFailureOrCommitIsRefused) {
  TempDir dir;
  io::AtomicFile f(dir.file("target.bin"));
  f.commit();
  EXPECT_THROW(f.write("late"), OutputError);
  EXPECT_THROW(f.commit(), OutputError);
}

}  // namespace
}  // namespace distill::testing
