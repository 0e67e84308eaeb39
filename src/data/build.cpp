// build_dataset: the build key, the no-op check, the lock, and the temporary folder swapped in
// atomically; the work itself is the Builder's (builder.cpp).
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>

#include "builder.h"
#include "distill/data/dataset.h"
#include "distill/io/atomic_file.h"
#include "distill/util/errors.h"
#include "distill/util/files.h"
#include "distill/util/logging.h"
#include "distill/util/sha256.h"

namespace distill::data {
namespace {

std::string join_inputs(const std::vector<std::string>& inputs) {
  std::string s;
  for (const auto& i : inputs) s += (s.empty() ? "" : ", ") + i;
  return s;
}

// An exclusive flock on the output's parent folder for the scope: builds into one folder queue up.
class FolderLock {
 public:
  explicit FolderLock(const std::string& dir) {
    fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_ < 0) throw OutputError(dir, "cannot open folder: " + errno_text(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      log::info("data: another distill is building a dataset in {}; waiting for it", dir);
      while (::flock(fd_, LOCK_EX) != 0) {
        if (errno != EINTR) throw OutputError(dir, "cannot lock: " + errno_text(errno));
      }
    }
  }
  ~FolderLock() { ::close(fd_); }
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

// Puts the finished `tmp` folder at `out`: a rename, or an atomic exchange with the old dataset.
void swap_into_place(const std::string& tmp, const std::string& out) {
  if (!files::exists(out)) {
    files::rename_path(tmp, out);
  } else {
#ifdef RENAME_EXCHANGE
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, out.c_str(), RENAME_EXCHANGE) == 0) {
      files::remove_tree(tmp);  // now the old dataset
      files::fsync_path(files::parent(out));
      return;
    }
#endif
    // No exchange on this file system: two renames (a crash between them leaves <out>.old-*).
    const std::string old = out + ".old-" + std::to_string(::getpid());
    files::rename_path(out, old);
    files::rename_path(tmp, out);
    files::remove_tree(old);
  }
  files::fsync_path(files::parent(out));
}

}  // namespace

BuildResult build_dataset(const tokenizer::Tokenizer& tok, const BuildOptions& o) {
  if (o.output_dir.empty()) throw UsageError("tokenize: no output folder given", "pass --output DIR");
  if (o.inputs.empty()) throw UsageError("tokenize: no inputs given", "pass --input FILE (repeatable) or set data.train");
  const ExpandedInputs in = expand_inputs(o.inputs);
  if (!in.datasets.empty()) {
    throw InputError(in.datasets.front(), "is already a tokenized dataset",
                     "list it in data.train directly; distill tokenize reads .txt, .jsonl and .json files");
  }
  Json key_doc;
  key_doc["version"] = kDatasetVersion;
  key_doc["tokenizer"] = tok.fingerprint();
  key_doc["vocab_size"] = tok.vocab_size();
  key_doc["options"] = content_options(o);
  key_doc["sources"] = sources_json(in.files);
  const std::string build_key = sha256_hex(key_doc.dump());

  const std::string out = o.output_dir;
  const std::string parent = files::parent(out);
  files::create_directories(parent);
  FolderLock lock(parent);

  BuildResult result;
  result.dir = out;
  if (files::exists(out)) {
    if (!files::is_directory(out)) throw UsageError(out + ": exists and is not a folder", "choose another --output");
    if (is_dataset_dir(out)) {
      if (!o.force) {
        try {
          const auto existing = Dataset::open(out);
          if (existing->build_key() == build_key) {
            log::info("data: {} is up to date (same inputs, options and tokenizer): nothing to do", out);
            result.meta = existing->meta();
            return result;
          }
          log::info("data: {} was built from other inputs, options or tokenizer: rebuilding", out);
        } catch (const InputError& e) {
          log::warn("data: {} is damaged ({}): rebuilding", out, e.what());
        }
      }
    } else if (!files::list_directory(out).empty()) {
      throw UsageError(out + ": exists and is not a tokenized dataset (no distill meta.json)",
                       "choose an empty or new folder for the output; distill replaces only its own datasets");
    }
  }
  // What killed builds left behind.
  const std::string base = files::filename(out);
  for (const auto& name : files::list_directory(parent)) {
    if (name.rfind(base + ".tmp-", 0) == 0 || name.rfind(base + ".old-", 0) == 0) {
      files::remove_tree(files::join(parent, name));
    }
  }
  const std::string tmp = out + ".tmp-" + std::to_string(::getpid());
  files::create_directories(tmp);
  try {
    const auto start = std::chrono::steady_clock::now();
    log::info("data: tokenizing {} files ({} MB) with {} ({}) into {}", in.files.size(),
              [&] {
                std::int64_t total = 0;
                for (const auto& f : in.files) total += f.size;
                return total / 1000000;
              }(),
              tok.source(), tok.kind(), out);
    Builder b(tok, o, in.files, tmp);
    b.run();
    if (b.documents() == 0) {
      throw InputError(join_inputs(o.inputs), "no usable documents (" + b.counts().summary() + ")",
                       "check the inputs, data.text_field / --text-field and the format (docs/data.md)");
    }
    result.meta = b.meta(build_key);
    io::write_file_atomic(files::join(tmp, kMetaFile), result.meta.dump(2) + "\n");
    files::fsync_path(tmp);
    swap_into_place(tmp, out);
    result.rebuilt = true;
    result.report = b.report().text();
    log_summary(b, o, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), out);
  } catch (...) {
    files::remove_tree(tmp);
    throw;
  }
  return result;
}

}  // namespace distill::data
