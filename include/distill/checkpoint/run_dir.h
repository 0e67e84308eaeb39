// The run directory (checkpoint.dir) of one training run: the lock, config.json, metrics.jsonl,
// tensorboard/, train.log and checkpoints/, with crash-safe saves and resume. Layout and guarantees:
// docs/checkpoints.md.
//
//   <dir>/lock                     flock'd while a run uses the directory; holds "pid=N host=H started=T"
//   <dir>/config.json              the resolved config of the latest start (atomic replace)
//   <dir>/metrics.jsonl            one JSON object per logged step, rolled back to the checkpoint on resume
//   <dir>/tensorboard/events.out.tfevents.0.distill
//                                  the same rows as TensorBoard scalars (tensorboard.h), rolled back likewise
//   <dir>/train.log                every log line of every start, appended
//   <dir>/checkpoints/latest       "step-00000123": the newest complete checkpoint (atomic replace)
//   <dir>/checkpoints/step-00000123/{model.safetensors, optimizer.safetensors, state.json}
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "distill/checkpoint/checkpoint.h"

namespace distill::checkpoint {

class TensorBoardWriter;

constexpr const char* kLockFile = "lock";
constexpr const char* kConfigFile = "config.json";
constexpr const char* kMetricsFile = "metrics.jsonl";
constexpr const char* kLogFile = "train.log";
constexpr const char* kCheckpointsDir = "checkpoints";
constexpr const char* kLatestFile = "latest";

// --resume: auto (resume when a checkpoint exists, else start), always (a checkpoint must exist),
// never (start fresh; refuses a run directory that already holds checkpoints).
enum class ResumeMode { kAuto, kAlways, kNever };
// "auto" | "always" | "never"; anything else is a UsageError naming --resume.
ResumeMode parse_resume_mode(const std::string& text);

// One thread drives a RunDir (the training loop); it is not meant to be shared between threads.
class RunDir {
 public:
  // Creates `dir` and dir/checkpoints if needed, takes the lock (a second run gets LockedError,
  // exit 6, naming the holder's pid; the kernel drops the lock when its holder dies however it
  // dies, so a lock file left by a dead run never blocks), removes what killed saves left behind
  // (checkpoints/.tmp-* folders, temp files of atomic writes), opens metrics.jsonl and the
  // TensorBoard events file (tracked like track_append_file) for appending and adds train.log to
  // the log output. Failures to create or write are OutputError.
  // The lock belongs to this object's open file: a child forked while it is open shares it.
  explicit RunDir(std::string dir);
  // Detaches train.log and releases the lock.
  ~RunDir();
  RunDir(const RunDir&) = delete;
  RunDir& operator=(const RunDir&) = delete;

  const std::string& path() const { return dir_; }
  std::string checkpoints_dir() const;

  // Adds a run-directory file (relative path) that is only ever appended to, e.g. TensorBoard event
  // files: like metrics.jsonl, checkpoints record its size and resume() cuts it back to that size.
  // Call before resume().
  void track_append_file(const std::string& relative_path);

  // Decides where the run starts. Call once, before append_metrics() and save_checkpoint().
  //   auto:   the newest good checkpoint, or nullopt (fresh start) when there is none;
  //   always: the newest good checkpoint; none is a UsageError;
  //   never:  nullopt; a run directory that holds checkpoints is a UsageError saying how to start fresh.
  // "Newest good": `latest` if it verifies, else step folders from newest to oldest, each damaged one
  // a warning; when checkpoints exist but none verifies, the newest one's InputError (exit 3).
  // metrics.jsonl and the tracked files are cut back to their size at that checkpoint (emptied on a
  // fresh start), so a resumed run's metrics equal those of an uninterrupted one. RNG states are
  // not restored here: call restore_rng_states() once the models are built.
  std::optional<LoadedCheckpoint> resume(ResumeMode mode);

  // Writes config.json (atomically) and keeps the config for the state.json of later checkpoints.
  // After resume() from a checkpoint, returns (and logs) the keys whose values differ from the
  // config that checkpoint was saved with, as "key: old -> new".
  std::vector<std::string> set_config(const Json& resolved);

  // Appends `row` as one line to metrics.jsonl with a single write (no user-space buffering, so a
  // killed process loses no finished row), then its numbers as one event to the TensorBoard events
  // file, also with a single write. On a failed write the partial line or event is cut off again
  // (and, when the event fails, the row's line too, so both files keep the same rows) and
  // OutputError is thrown.
  void append_metrics(const Json& row);

  // Saves checkpoint `data.state.step` (see docs/checkpoints.md, "Atomicity"):
  //  1. fsyncs metrics.jsonl and the tracked files and records their sizes;
  //  2. writes the checkpoint into checkpoints/.tmp-step-N-<pid>/ (every file fsynced, then the folder);
  //  3. renames it to checkpoints/step-N (atomically exchanging it with an existing folder of the same
  //     step), fsyncs checkpoints/;
  //  4. replaces checkpoints/latest atomically;
  //  5. prunes: keeps the `keep_last` newest complete checkpoints up to this step, removes step
  //     folders of a later step (left from before a resume at an earlier checkpoint); failures here
  //     are warnings.
  // A failure in 1-4 (disk full, permissions) is an OutputError naming the path; the temporary folder
  // is removed and the previous checkpoint and `latest` are untouched. Returns the step folder.
  std::string save_checkpoint(const CheckpointData& data, std::int64_t keep_last);

 private:
  void remove_debris();
  void roll_back_append_files(const LoadedCheckpoint* resumed);  // nullptr: fresh start
  void prune(std::int64_t saved_step, std::int64_t keep_last);

  std::string dir_;
  int lock_fd_ = -1;
  int metrics_fd_ = -1;
  std::unique_ptr<TensorBoardWriter> tensorboard_;
  bool resume_decided_ = false;
  Json config_;           // null until set_config()
  Json resumed_config_;   // the resumed checkpoint's config, null on a fresh start
  std::vector<std::string> append_files_;  // metrics.jsonl + tracked, relative to dir_
};

// The newest checkpoint of a run directory that verifies (see RunDir::resume), without taking the
// lock or changing anything: for `distill export` and inspection. nullopt when there is no step
// folder; InputError when there are some but none verifies.
std::optional<LoadedCheckpoint> load_newest_checkpoint(const std::string& run_dir);

// Step folders of a run directory's checkpoints/ as (step, folder path), newest first.
std::vector<std::pair<std::int64_t, std::string>> list_step_folders(const std::string& run_dir);

// Keys (dotted paths) whose values differ between two configs, as "key: old -> new" (values as
// compact JSON; "(absent)" for a missing key). Objects are compared key by key, anything else whole.
std::vector<std::string> config_changes(const Json& before, const Json& after);

}  // namespace distill::checkpoint
