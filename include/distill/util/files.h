// File-system helpers on plain POSIX calls. distill does not use std::filesystem: PyTorch's pip
// wheels export statically linked copies of libstdc++'s filesystem symbols (pytorch#133437), and
// binaries that link them crash inside directory iteration.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace distill::files {

bool exists(const std::string& path);
bool is_directory(const std::string& path);
bool is_regular_file(const std::string& path);

// "a" + "b" -> "a/b" (no doubled slash); an absolute `b` is returned as is.
std::string join(const std::string& a, const std::string& b);
// The folder part of a path: "a/b/c" -> "a/b", "c" -> ".", "/c" -> "/".
std::string parent(const std::string& path);
// The last component: "a/b/c" -> "c".
std::string filename(const std::string& path);
// The last component's extension with its dot: "a/b.model" -> ".model"; "" when none.
std::string extension(const std::string& path);
// The running executable's path (/proc/self/exe); empty when it cannot be read.
std::string executable_path();
// True when `path` is relative and has no ".." component (it stays inside its base folder).
bool is_contained_relative(const std::string& path);

// Entry names of a folder (no "." or ".."), sorted. Throws OutputError when it cannot be read.
std::vector<std::string> list_directory(const std::string& dir);
// mkdir -p. Throws OutputError naming the folder.
void create_directories(const std::string& dir);
// unlink; false when the file did not exist. Throws OutputError on any other failure.
bool remove_file(const std::string& path);
// rm -rf, best effort; never throws.
void remove_tree(const std::string& path) noexcept;
// fsync(2) of a file or a folder (a folder's fsync makes renames and new entries in it durable).
// A file system that cannot fsync folders (EINVAL) is accepted. Throws OutputError naming the path.
void fsync_path(const std::string& path);
// rename(2) within one file system (atomic). Throws OutputError naming both paths.
void rename_path(const std::string& from, const std::string& to);
// Size of a regular file in bytes; -1 when it does not exist.
std::int64_t file_size(const std::string& path);
// A fresh folder "<base>/<prefix>XXXXXX" (base: $TMPDIR or /tmp). Throws OutputError.
std::string make_temp_directory(const std::string& prefix);

}  // namespace distill::files
