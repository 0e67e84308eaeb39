// Finding the newest good checkpoint (latest, else newest to oldest) and rolling a run back to it.
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "distill/checkpoint/run_dir.h"
#include "distill/util/errors.h"
#include "distill/util/files.h"
#include "distill/util/logging.h"

namespace distill::checkpoint {
namespace {

// The step folder `latest` names, or "" (with a warning saying why) when it names none.
std::string latest_target(const std::string& ck) {
  const std::string path = files::join(ck, kLatestFile);
  if (!files::exists(path)) {
    log::warn("{} is missing; using the newest step folder that verifies", path);
    return "";
  }
  std::ifstream in(path);
  std::string name;
  std::getline(in, name);
  if (parse_step_folder_name(name) < 0) {
    log::warn("{} does not name a step folder; using the newest step folder that verifies", path);
    return "";
  }
  if (!files::is_directory(files::join(ck, name))) {
    log::warn("{} names {}, which does not exist; using the newest step folder that verifies", path, name);
    return "";
  }
  return files::join(ck, name);
}

std::size_t count_newlines(const std::string& path, std::int64_t from) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(from);
  std::size_t n = 0;
  for (char c; in.get(c);) n += c == '\n';
  return n;
}

}  // namespace

std::vector<std::pair<std::int64_t, std::string>> list_step_folders(const std::string& run_dir) {
  const std::string ck = files::join(run_dir, kCheckpointsDir);
  std::vector<std::pair<std::int64_t, std::string>> out;
  if (!files::is_directory(ck)) return out;
  for (const std::string& name : files::list_directory(ck)) {
    const std::int64_t step = parse_step_folder_name(name);
    if (step >= 0 && files::is_directory(files::join(ck, name))) out.emplace_back(step, files::join(ck, name));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  return out;
}

std::optional<LoadedCheckpoint> load_newest_checkpoint(const std::string& run_dir) {
  const auto folders = list_step_folders(run_dir);
  if (folders.empty()) return std::nullopt;
  std::vector<std::string> candidates;
  if (std::string latest = latest_target(files::join(run_dir, kCheckpointsDir)); !latest.empty()) candidates.push_back(latest);
  for (const auto& folder : folders) {
    if (std::find(candidates.begin(), candidates.end(), folder.second) == candidates.end()) candidates.push_back(folder.second);
  }
  std::string first_error, first_path;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    try {
      LoadedCheckpoint loaded = load_checkpoint_folder(candidates[i]);
      if (i > 0) log::warn("using the earlier checkpoint {}", candidates[i]);
      return loaded;
    } catch (const InputError& e) {
      log::warn("checkpoint {} cannot be used: {}{}", candidates[i], e.what(),
                i + 1 < candidates.size() ? "; falling back to an earlier checkpoint" : "");
      if (first_error.empty()) {
        first_error = e.what();
        first_path = e.path();
      }
    }
  }
  throw InputError(first_path, "no checkpoint of " + run_dir + " verifies (" + std::to_string(candidates.size()) +
                                   " tried); the newest fails with: " + first_error.substr(first_path.empty() ? 0 : first_path.size() + 2),
                   "the checkpoints are damaged; to start the run afresh, move " + files::join(run_dir, kCheckpointsDir) +
                       " aside (or use another checkpoint.dir)");
}

std::optional<LoadedCheckpoint> RunDir::resume(ResumeMode mode) {
  if (resume_decided_) throw std::logic_error("RunDir::resume called twice");
  const auto folders = list_step_folders(dir_);
  if (mode == ResumeMode::kNever && !folders.empty()) {
    throw UsageError("run directory " + dir_ + " already holds checkpoints (newest: " + files::filename(folders.front().second) +
                         "), and --resume never neither continues nor overwrites them",
                     "continue that run with --resume auto; to start afresh, use another checkpoint.dir or move " +
                         checkpoints_dir() + " aside");
  }
  std::optional<LoadedCheckpoint> loaded;
  if (mode != ResumeMode::kNever) loaded = load_newest_checkpoint(dir_);
  if (!loaded && mode == ResumeMode::kAlways) {
    throw UsageError("--resume always: run directory " + dir_ + " holds no checkpoint",
                     "use --resume auto to start a new run when there is none");
  }
  roll_back_append_files(loaded ? &*loaded : nullptr);
  resume_decided_ = true;
  if (loaded) {
    resumed_config_ = loaded->config;
    log::info("resuming from {} (step {})", loaded->dir, loaded->state.step);
  } else {
    resumed_config_ = Json();
    log::info("starting a new run in {}", dir_);
  }
  return loaded;
}

// Cuts each append-only file back to its size at the checkpoint (0 on a fresh start), so rows
// logged after the checkpoint, which the resumed run logs again, do not appear twice.
void RunDir::roll_back_append_files(const LoadedCheckpoint* resumed) {
  const std::map<std::string, std::int64_t> sizes = resumed ? resumed->append_files : std::map<std::string, std::int64_t>{};
  for (const std::string& name : append_files_) {
    const std::string path = files::join(dir_, name);
    const std::int64_t size = files::file_size(path);
    if (size < 0) continue;
    const auto it = sizes.find(name);
    const std::int64_t target = it == sizes.end() ? 0 : it->second;
    if (size > target) {
      const bool lines = name.size() >= 6 && name.compare(name.size() - 6, 6, ".jsonl") == 0;
      const std::size_t rows = lines ? count_newlines(path, target) : 0;
      if (::truncate(path.c_str(), target) != 0) throw OutputError(path, "cannot cut back to the checkpoint: " + errno_text(errno));
      const char* after = resumed ? "checkpoint" : "last checkpoint-less start";
      if (lines) {
        log::info("{}: removed {} line(s) written after the {}", path, rows, after);
      } else {
        log::info("{}: removed {} byte(s) written after the {}", path, size - target, after);
      }
    } else if (size < target) {
      log::warn("{} holds {} bytes, fewer than the {} it held when the checkpoint was saved; earlier rows are missing",
                path, size, target);
    }
  }
}

}  // namespace distill::checkpoint
