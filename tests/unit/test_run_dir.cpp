// RunDir: the lock, debris cleanup, metrics roll-back on resume, pruning, fallback to an earlier
// checkpoint, resume modes, config changes, train.log, and a failed save leaving the previous one.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "checkpoint_test_helpers.h"
#include "distill/util/errors.h"
#include "distill/util/logging.h"

namespace distill::testing {
namespace {

using checkpoint::Json;
using checkpoint::ResumeMode;
using checkpoint::RunDir;

std::vector<std::string> checkpoint_entries(const std::string& run_dir) {
  return files::list_directory(files::join(run_dir, "checkpoints"));
}

std::string latest_of(const std::string& run_dir) { return read_file(files::join(run_dir, "checkpoints/latest")); }

// A run that logs rows 1..last and saves at each step in `saves`, then is dropped (as if killed).
void run_steps(const std::string& dir, std::int64_t first, std::int64_t last, const std::vector<std::int64_t>& saves,
               std::int64_t keep_last = 10) {
  RunDir run(dir);
  const auto loaded = run.resume(ResumeMode::kAuto);
  ASSERT_EQ(loaded ? loaded->state.step + 1 : 1, first);
  for (std::int64_t s = first; s <= last; ++s) {
    run.append_metrics(metrics_row(s));
    if (std::find(saves.begin(), saves.end(), s) != saves.end()) run.save_checkpoint(data_for_step(s), keep_last);
  }
}

// ---- lock

TEST(RunDirLock, SecondOpenIsLockedErrorNamingThePid) {
  TempDir dir;
  RunDir first(dir.path());
  try {
    RunDir second(dir.path());
    ADD_FAILURE() << "a second RunDir opened a locked run directory";
  } catch (const LockedError& e) {
    EXPECT_EQ(e.code(), ExitCode::kLocked);
    EXPECT_CONTAINS(std::string(e.what()), "pid " + std::to_string(::getpid()));
    EXPECT_CONTAINS(std::string(e.what()), dir.path());
    EXPECT_CONTAINS(e.hint(), "kill -TERM " + std::to_string(::getpid()));
  }
}

TEST(RunDirLock, ReleasedWhenTheRunDirIsDestroyed) {
  TempDir dir;
  { RunDir first(dir.path()); }
  EXPECT_NO_THROW(RunDir second(dir.path()));
}

// A child process takes the lock; the parent is refused with the child's pid; after the child is
// killed with SIGKILL the lock file is still there (naming the dead pid) but no longer blocks.
TEST(RunDirLock, HeldByAnotherProcessUntilItIsKilled) {
  TempDir dir;
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(ready[0]);
    try {
      RunDir run(dir.path());
      (void)!::write(ready[1], "1", 1);
      for (;;) ::pause();
    } catch (...) {
      ::_exit(3);
    }
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1) << "the child could not open the run directory";
  ::close(ready[0]);
  try {
    RunDir second(dir.path());
    ADD_FAILURE() << "opened a run directory locked by another process";
  } catch (const LockedError& e) {
    EXPECT_CONTAINS(std::string(e.what()), "pid " + std::to_string(pid));
  }
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_CONTAINS(read_file(dir.file("lock")), "pid=" + std::to_string(pid));
  EXPECT_NO_THROW(RunDir after(dir.path()));
  EXPECT_CONTAINS(read_file(dir.file("lock")), "pid=" + std::to_string(::getpid()));
}

TEST(RunDirLock, LeftoverLockFileWithGarbageDoesNotBlock) {
  TempDir dir;
  write_file(dir.file("lock"), "pid=999999999 host=elsewhere\n\x01garbage");
  EXPECT_NO_THROW(RunDir run(dir.path()));
}

// ---- debris, config, log

TEST(RunDirOpen, RemovesWhatKilledSavesLeftAndKeepsCheckpoints) {
  TempDir dir;
  run_steps(dir.path(), 1, 1, {1});
  files::create_directories(dir.file("checkpoints/.tmp-step-00000002-4242"));
  write_file(dir.file("checkpoints/.tmp-step-00000002-4242/model.safetensors"), "partial");
  files::create_directories(dir.file("checkpoints/.tmp-delete-step-00000000"));
  write_file(dir.file("checkpoints/.latest.tmp.4242"), "step-000");
  write_file(dir.file(".config.json.tmp.4242"), "{");
  write_file(dir.file("notes.txt"), "mine");
  RunDir run(dir.path());
  EXPECT_EQ(checkpoint_entries(dir.path()), (std::vector<std::string>{"latest", "step-00000001"}));
  EXPECT_FALSE(files::exists(dir.file(".config.json.tmp.4242")));
  EXPECT_TRUE(files::exists(dir.file("notes.txt")));
}

TEST(RunDirOpen, TrainLogReceivesLogLinesWhileOpen) {
  TempDir dir;
  {
    RunDir run(dir.path());
    log::info("a line from the trainer {}", 42);
  }
  log::info("a line after the run directory was closed");
  const std::string text = read_file(dir.file("train.log"));
  EXPECT_CONTAINS(text, "info a line from the trainer 42\n");
  EXPECT_EQ(text.find("after the run directory was closed"), std::string::npos);
  { RunDir again(dir.path()); }  // appended, not replaced
  EXPECT_CONTAINS(read_file(dir.file("train.log")), "a line from the trainer 42");
}

TEST(RunDirConfig, WrittenAtomicallyAndChangesSinceTheCheckpointReported) {
  TempDir dir;
  const Json config = {{"train", {{"max_steps", 10}, {"lr", 0.001}}}, {"checkpoint", {{"dir", dir.path()}}}};
  {
    RunDir run(dir.path());
    run.resume(ResumeMode::kAuto);
    EXPECT_TRUE(run.set_config(config).empty());
    run.save_checkpoint(data_for_step(1), 3);
  }
  EXPECT_EQ(Json::parse(read_file(dir.file("config.json"))), config);
  Json longer = config;
  longer["train"]["max_steps"] = 20;
  longer["train"]["new_key"] = true;
  RunDir run(dir.path());
  const auto loaded = run.resume(ResumeMode::kAuto);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->config, config);
  EXPECT_EQ(run.set_config(longer), (std::vector<std::string>{"train.max_steps: 10 -> 20", "train.new_key: (absent) -> true"}));
  EXPECT_EQ(Json::parse(read_file(dir.file("config.json"))), longer);
}

TEST(RunDirConfig, ConfigChangesComparesObjectsKeyByKey) {
  const Json a = Json::parse(R"({"x": {"y": 1, "z": [1, 2]}, "gone": "v"})");
  const Json b = Json::parse(R"({"x": {"y": 1, "z": [1, 3]}, "new": null})");
  EXPECT_EQ(checkpoint::config_changes(a, b),
            (std::vector<std::string>{"x.z: [1,2] -> [1,3]", "gone: \"v\" -> (absent)", "new: (absent) -> null"}));
  EXPECT_TRUE(checkpoint::config_changes(a, a).empty());
}

// ---- resume modes

TEST(RunDirResume, ModesDecideBetweenResumingAndStartingFresh) {
  EXPECT_EQ(checkpoint::parse_resume_mode("auto"), ResumeMode::kAuto);
  EXPECT_EQ(checkpoint::parse_resume_mode("never"), ResumeMode::kNever);
  EXPECT_EQ(checkpoint::parse_resume_mode("always"), ResumeMode::kAlways);
  EXPECT_THROW(checkpoint::parse_resume_mode("yes"), UsageError);

  TempDir dir;
  {
    RunDir run(dir.path());
    EXPECT_THROW(run.resume(ResumeMode::kAlways), UsageError);
  }
  {
    RunDir run(dir.path());
    EXPECT_FALSE(run.resume(ResumeMode::kAuto));
    run.save_checkpoint(data_for_step(4), 3);
  }
  {
    RunDir run(dir.path());
    try {
      run.resume(ResumeMode::kNever);
      ADD_FAILURE() << "--resume never accepted a run directory with checkpoints";
    } catch (const UsageError& e) {
      EXPECT_CONTAINS(std::string(e.what()), "step-00000004");
      EXPECT_CONTAINS(e.hint(), "another checkpoint.dir");
    }
  }
  RunDir run(dir.path());
  const auto loaded = run.resume(ResumeMode::kAlways);
  ASSERT_TRUE(loaded);
  EXPECT_TRUE(holds_step(*loaded, 4));
}

TEST(RunDirResume, CallOrderIsEnforced) {
  TempDir dir;
  RunDir run(dir.path());
  EXPECT_THROW(run.append_metrics(metrics_row(1)), std::logic_error);
  EXPECT_THROW(run.save_checkpoint(data_for_step(1), 1), std::logic_error);
  run.resume(ResumeMode::kAuto);
  EXPECT_THROW(run.resume(ResumeMode::kAuto), std::logic_error);
}

// ---- metrics roll-back

// Killed after logging steps 4-5 past the checkpoint at 3, resumed, and run to 6: metrics.jsonl is
// byte for byte that of a run that was never interrupted.
TEST(RunDirMetrics, ResumedRunsMetricsEqualAnUninterruptedRuns) {
  TempDir uninterrupted, interrupted;
  run_steps(uninterrupted.path(), 1, 6, {3, 6});
  EXPECT_EQ(read_file(uninterrupted.file("metrics.jsonl")), metrics_text(6));

  run_steps(interrupted.path(), 1, 5, {3});
  EXPECT_EQ(read_file(interrupted.file("metrics.jsonl")), metrics_text(5));
  {
    RunDir run(interrupted.path());
    const auto loaded = run.resume(ResumeMode::kAuto);
    ASSERT_TRUE(loaded);
    EXPECT_EQ(loaded->state.step, 3);
    EXPECT_EQ(read_file(interrupted.file("metrics.jsonl")), metrics_text(3));
  }
  run_steps(interrupted.path(), 4, 6, {6});
  EXPECT_EQ(read_file(interrupted.file("metrics.jsonl")), read_file(uninterrupted.file("metrics.jsonl")));
}

TEST(RunDirMetrics, PartlyWrittenRowAfterTheCheckpointIsCutOff) {
  TempDir dir;
  run_steps(dir.path(), 1, 2, {2});
  write_file(dir.file("metrics.jsonl"), read_file(dir.file("metrics.jsonl")) + "{\"step\":3,\"lo");
  RunDir run(dir.path());
  run.resume(ResumeMode::kAuto);
  EXPECT_EQ(read_file(dir.file("metrics.jsonl")), metrics_text(2));
}

TEST(RunDirMetrics, FreshStartEmptiesMetricsOfARunThatSavedNothing) {
  TempDir dir;
  run_steps(dir.path(), 1, 4, {});
  EXPECT_EQ(read_file(dir.file("metrics.jsonl")), metrics_text(4));
  RunDir run(dir.path());
  EXPECT_FALSE(run.resume(ResumeMode::kAuto));
  EXPECT_EQ(read_file(dir.file("metrics.jsonl")), "");
}

TEST(RunDirMetrics, TrackedAppendFilesAreRolledBackToo) {
  TempDir dir;
  files::create_directories(dir.file("tb"));
  {
    RunDir run(dir.path());
    run.track_append_file("tb/events.out");
    run.resume(ResumeMode::kAuto);
    write_file(dir.file("tb/events.out"), "record1");
    run.save_checkpoint(data_for_step(1), 3);
    write_file(dir.file("tb/events.out"), "record1record2");
  }
  RunDir run(dir.path());
  run.track_append_file("tb/events.out");
  run.resume(ResumeMode::kAuto);
  EXPECT_EQ(read_file(dir.file("tb/events.out")), "record1");
}

// ---- pruning and fallback

TEST(RunDirSave, KeepsTheNewestKeepLastCheckpoints) {
  TempDir dir;
  run_steps(dir.path(), 1, 5, {1, 2, 3, 4, 5}, /*keep_last=*/2);
  EXPECT_EQ(checkpoint_entries(dir.path()), (std::vector<std::string>{"latest", "step-00000004", "step-00000005"}));
  EXPECT_EQ(latest_of(dir.path()), "step-00000005\n");
  for (std::int64_t s : {4, 5}) EXPECT_TRUE(holds_step(checkpoint::load_checkpoint_folder(step_dir(dir.path(), s)), s));
}

TEST(RunDirResume, DamagedLatestFallsBackToThePreviousCheckpointWithAWarning) {
  TempDir dir;
  run_steps(dir.path(), 1, 3, {2, 3});
  flip_byte(files::join(step_dir(dir.path(), 3), "optimizer.safetensors"));
  RunDir run(dir.path());
  const auto loaded = run.resume(ResumeMode::kAuto);
  ASSERT_TRUE(loaded);
  EXPECT_TRUE(holds_step(*loaded, 2));
  EXPECT_EQ(read_file(dir.file("metrics.jsonl")), metrics_text(2));
  const std::string log_text = read_file(dir.file("train.log"));
  EXPECT_CONTAINS(log_text, "step-00000003/optimizer.safetensors: checksum mismatch");
  EXPECT_CONTAINS(log_text, "falling back to an earlier checkpoint");
}

TEST(RunDirResume, MissingOrDanglingLatestFallsBackToScanning) {
  TempDir dir;
  run_steps(dir.path(), 1, 3, {1, 3});
  files::remove_file(dir.file("checkpoints/latest"));
  {
    RunDir run(dir.path());
    const auto loaded = run.resume(ResumeMode::kAuto);
    ASSERT_TRUE(loaded);
    EXPECT_EQ(loaded->state.step, 3);
  }
  write_file(dir.file("checkpoints/latest"), "step-00000009\n");
  RunDir run(dir.path());
  const auto loaded = run.resume(ResumeMode::kAuto);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->state.step, 3);
}

TEST(RunDirResume, AllCheckpointsDamagedIsInputErrorNotAFreshStart) {
  TempDir dir;
  run_steps(dir.path(), 1, 2, {1, 2});
  for (std::int64_t s : {1, 2}) flip_byte(files::join(step_dir(dir.path(), s), "model.safetensors"));
  RunDir run(dir.path());
  try {
    run.resume(ResumeMode::kAuto);
    ADD_FAILURE() << "resumed from damaged checkpoints";
  } catch (const InputError& e) {
    EXPECT_EQ(e.path(), files::join(step_dir(dir.path(), 2), "model.safetensors"));
    EXPECT_CONTAINS(std::string(e.what()), "no checkpoint");
    EXPECT_CONTAINS(e.hint(), "aside");
  }
  EXPECT_TRUE(files::exists(step_dir(dir.path(), 1)));  // nothing deleted
}

// Resumed at step 2 because 3 and 4 are damaged: saving step 3 replaces the damaged folder of that
// step and removes the now-abandoned step 4, and keeps step 1 and 2.
TEST(RunDirSave, ResaveAfterFallbackReplacesDamagedAndAbandonedFolders) {
  TempDir dir;
  run_steps(dir.path(), 1, 4, {1, 2, 3, 4});
  for (std::int64_t s : {3, 4}) flip_byte(files::join(step_dir(dir.path(), s), "model.safetensors"));
  run_steps(dir.path(), 3, 3, {3});
  EXPECT_EQ(checkpoint_entries(dir.path()),
            (std::vector<std::string>{"latest", "step-00000001", "step-00000002", "step-00000003"}));
  EXPECT_TRUE(holds_step(checkpoint::load_checkpoint_folder(step_dir(dir.path(), 3)), 3));
  EXPECT_EQ(latest_of(dir.path()), "step-00000003\n");
  EXPECT_EQ(read_file(dir.file("metrics.jsonl")), metrics_text(3));
}

TEST(RunDirSave, SavingTheSameStepTwiceKeepsOneGoodFolder) {
  TempDir dir;
  RunDir run(dir.path());
  run.resume(ResumeMode::kAuto);
  run.save_checkpoint(data_for_step(2), 3);
  run.save_checkpoint(data_for_step(2), 3);
  EXPECT_EQ(checkpoint_entries(dir.path()), (std::vector<std::string>{"latest", "step-00000002"}));
  EXPECT_TRUE(holds_step(checkpoint::load_checkpoint_folder(step_dir(dir.path(), 2)), 2));
}

// "Disk full", portably: a child whose file-size limit is 64 KiB (SIGXFSZ ignored, so writes fail
// with EFBIG) saves a small checkpoint, then a 1 MiB one. The second save fails with an OutputError
// naming the file, and step 1 with its `latest` stays intact, with no temporary folder left.
TEST(RunDirSave, DiskFullIsOutputErrorAndKeepsThePreviousCheckpoint) {
  TempDir dir;
  const int code = testing::output_error_when_file_too_big(
      [&](const auto& limit) {
        log::set_level(log::Level::kError);
        RunDir run(dir.path());
        run.resume(ResumeMode::kAuto);
        run.append_metrics(metrics_row(1));
        run.save_checkpoint(data_for_step(1), 3);
        limit(64 << 10);
        run.append_metrics(metrics_row(2));
        run.save_checkpoint(data_for_step(2, 1 << 18), 3);
      },
      [](const std::string& m) {
        return m.find("/checkpoints/.tmp-step-00000002-") != std::string::npos &&
               m.find("model.safetensors") != std::string::npos;
      });
  EXPECT_EQ(code, 0) << testing::kFileTooBigCodes;
  EXPECT_EQ(checkpoint_entries(dir.path()), (std::vector<std::string>{"latest", "step-00000001"}));
  EXPECT_EQ(latest_of(dir.path()), "step-00000001\n");
  RunDir run(dir.path());
  const auto loaded = run.resume(ResumeMode::kAuto);
  ASSERT_TRUE(loaded);
  EXPECT_TRUE(holds_step(*loaded, 1));
  EXPECT_EQ(read_file(dir.file("metrics.jsonl")), metrics_text(1));
}

}  // namespace
}  // namespace distill::testing
