// RunDir::save_checkpoint: temporary folder, fsync, rename into place, `latest`, pruning.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <stdexcept>

#include "distill/checkpoint/run_dir.h"
#include "distill/io/atomic_file.h"
#include "distill/util/errors.h"
#include "distill/util/files.h"
#include "distill/util/logging.h"

namespace distill::checkpoint {
namespace {

// Moves the complete folder `tmp` to `final`. When `final` exists (the same step saved again, e.g.
// after resuming from an earlier checkpoint), the two are exchanged in one atomic step where the
// file system can (renameat2 RENAME_EXCHANGE), else moved aside first; the old one is then removed.
void install(const std::string& tmp, const std::string& final_dir) {
  if (!files::exists(final_dir)) {
    files::rename_path(tmp, final_dir);
    return;
  }
#ifdef RENAME_EXCHANGE
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_EXCHANGE) == 0) {
    files::remove_tree(tmp);  // now the old folder
    return;
  }
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) {
    throw OutputError(final_dir, "cannot exchange it with " + tmp + ": " + errno_text(errno));
  }
#endif
  const std::string aside = tmp + "-replaced";  // ".tmp-..." as well: removed on the next open if we die here
  files::rename_path(final_dir, aside);
  files::rename_path(tmp, final_dir);
  files::remove_tree(aside);
}

// Renames a folder to a .tmp- name (atomic, so no half-deleted step folder is ever visible), then deletes it.
bool remove_step_folder(const std::string& ck, const std::string& folder) {
  const std::string doomed = files::join(ck, ".tmp-delete-" + files::filename(folder));
  try {
    files::remove_tree(doomed);
    files::rename_path(folder, doomed);
  } catch (const OutputError& e) {
    log::warn("could not remove old checkpoint {}: {}", folder, e.what());
    return false;
  }
  files::remove_tree(doomed);
  return true;
}

}  // namespace

std::string RunDir::save_checkpoint(const CheckpointData& data, std::int64_t keep_last) {
  if (!resume_decided_) throw std::logic_error("RunDir::save_checkpoint before resume()");
  const std::int64_t step = data.state.step;
  if (step < 0) throw std::logic_error("RunDir::save_checkpoint: negative step");
  const std::string ck = checkpoints_dir();
  const std::string name = step_folder_name(step);
  const std::string final_dir = files::join(ck, name);

  // 1. Everything logged up to here becomes durable with the checkpoint, and its extent is recorded.
  std::map<std::string, std::int64_t> append_sizes;
  for (const std::string& file : append_files_) {
    const std::string path = files::join(dir_, file);
    if (!files::exists(path)) continue;
    files::fsync_path(path);
    append_sizes[file] = files::file_size(path);
  }

  // 2-3. Write into a temporary folder, then move it into place.
  const std::string tmp = files::join(ck, ".tmp-" + name + "-" + std::to_string(::getpid()));
  files::remove_tree(tmp);
  if (::mkdir(tmp.c_str(), 0755) != 0) throw OutputError(tmp, "cannot create the checkpoint folder: " + errno_text(errno));
  try {
    write_checkpoint_folder(tmp, data, config_, append_sizes);
    install(tmp, final_dir);
    files::fsync_path(ck);
  } catch (...) {
    files::remove_tree(tmp);
    throw;
  }

  // 4. The commit point for readers that follow `latest`.
  io::write_file_atomic(files::join(ck, kLatestFile), name + "\n");

  const std::int64_t bytes = files::file_size(files::join(final_dir, kModelFile)) + files::file_size(files::join(final_dir, kOptimizerFile));
  log::info("saved checkpoint {} ({:.1f} MB)", final_dir, static_cast<double>(bytes) / 1e6);

  // 5. Pruning; only ever removes folders other than the one just saved (and named by `latest`).
  prune(step, keep_last);
  return final_dir;
}

void RunDir::prune(std::int64_t saved_step, std::int64_t keep_last) {
  const std::string ck = checkpoints_dir();
  std::int64_t kept = 0;
  for (const auto& [step, folder] : list_step_folders(dir_)) {
    if (step == saved_step) {
      ++kept;
    } else if (step > saved_step) {
      log::warn("removing {}: it is newer than the checkpoint just saved, left from before this run resumed at an earlier step",
                folder);
      remove_step_folder(ck, folder);
    } else if (kept >= std::max<std::int64_t>(keep_last, 1)) {
      remove_step_folder(ck, folder);
    } else if (const auto reason = incomplete_reason(folder)) {
      log::warn("removing incomplete checkpoint {}: {}", folder, *reason);
      remove_step_folder(ck, folder);
    } else {
      ++kept;
    }
  }
}

}  // namespace distill::checkpoint
