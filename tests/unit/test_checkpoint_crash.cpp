// Crash safety end to end, with forked fake trainers: SIGKILL at random moments never leaves the run
// directory without its last complete checkpoint (nor metrics.jsonl or the TensorBoard event file
// with rows past it); SIGTERM finishes the step, saves and exits 5.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <random>

#include "checkpoint_test_helpers.h"
#include "distill/checkpoint/tensorboard.h"
#include "distill/util/errors.h"
#include "distill/util/logging.h"
#include "distill/util/signals.h"
#include "tfevents_test_reader.h"

namespace distill::testing {
namespace {

using checkpoint::ResumeMode;
using checkpoint::RunDir;

constexpr std::int64_t kElems = 1 << 15;  // 128 KiB per float tensor: saves take a while to write

void sleep_ms(int ms) {
  timespec left{ms / 1000, (ms % 1000) * 1000000L};
  while (::nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
}

// A fake trainer: resumes (checking that what it resumed is what that step saved), then logs and
// saves every step (keep_last 1: exactly one complete checkpoint to lose) until killed; with `stop_aware`, it polls the stop flag between
// steps like the real trainer: save, exit 5. Exit codes >= 20 are its own failures.
[[noreturn]] void fake_trainer(const std::string& dir, bool stop_aware, int step_ms, int save_every) {
  int code = 0;
  try {
    log::set_level(log::Level::kWarn);
    std::optional<signals::StopSignalScope> stop;
    if (stop_aware) stop.emplace();
    RunDir run(dir);
    const auto loaded = run.resume(ResumeMode::kAuto);
    std::int64_t step = loaded ? loaded->state.step : 0;
    if (loaded && !holds_step(*loaded, step)) ::_exit(20);
    for (;;) {
      ++step;
      sleep_ms(step_ms);  // the "step"
      run.append_metrics(metrics_row(step));
      const bool stop_now = stop_aware && signals::stop_requested();
      if (step % save_every == 0 || stop_now) run.save_checkpoint(data_for_step(step, kElems), 1);
      if (stop_now) {
        throw InterruptedError(std::string("stopped by ") + signals::signal_name(signals::stop_signal()) + " at step " +
                               std::to_string(step));
      }
    }
  } catch (const Error& e) {
    code = static_cast<int>(e.code());
  } catch (...) {
    code = 21;
  }
  ::_exit(code);
}

pid_t start_trainer(const std::string& dir, bool stop_aware, int step_ms = 0, int save_every = 1) {
  const pid_t pid = ::fork();
  if (pid == 0) fake_trainer(dir, stop_aware, step_ms, save_every);
  return pid;
}

// The steps of the TensorBoard events after the file_version record (which must come first, once).
std::vector<std::int64_t> event_steps(const std::string& dir) {
  std::vector<std::int64_t> steps;
  const std::string path = files::join(dir, checkpoint::kTensorBoardEventsFile);
  if (files::file_size(path) <= 0) return steps;
  const auto events = tfevents::read_events(path);  // throws on a torn or damaged record
  EXPECT_EQ(events.front().file_version, "brain.Event:2");
  for (std::size_t i = 1; i < events.size(); ++i) {
    EXPECT_EQ(events[i].file_version, "");
    steps.push_back(events[i].step);
  }
  return steps;
}

std::vector<std::int64_t> steps_up_to(std::int64_t last) {
  std::vector<std::int64_t> out;
  for (std::int64_t s = 1; s <= last; ++s) out.push_back(s);
  return out;
}

// What a later run finds: the lock is free, no debris, and a checkpoint whose tensors hold the
// values of its step with metrics.jsonl and the TensorBoard event file rolled back to exactly rows
// 1..step. Returns its step (0: none).
std::int64_t check_run_dir(const std::string& dir) {
  RunDir run(dir);
  for (const std::string& name : files::list_directory(files::join(dir, "checkpoints"))) {
    EXPECT_NE(name.rfind(".tmp", 0), 0u) << "left after open: " << name;
  }
  const auto loaded = run.resume(ResumeMode::kAuto);
  const std::int64_t step = loaded ? loaded->state.step : 0;
  if (loaded) {
    EXPECT_TRUE(holds_step(*loaded, step)) << "step " << step;
  }
  EXPECT_EQ(read_file(files::join(dir, "metrics.jsonl")), metrics_text(step));
  try {
    EXPECT_EQ(event_steps(dir), steps_up_to(step));
  } catch (const std::exception& e) {
    ADD_FAILURE() << "the TensorBoard event file after resuming at step " << step << ": " << e.what();
  }
  return step;
}

class CheckpointCrash : public ::testing::Test {
 protected:
  void SetUp() override { log::set_level(log::Level::kWarn); }  // no "saved checkpoint" line per save
  void TearDown() override { log::set_level(log::Level::kInfo); }
};

// 40 kills at random moments (deterministic seed; delays 0-150 ms, so some land before the first
// save and many inside one). After each, the newest checkpoint is complete and never older than
// the one found after the previous kill.
TEST_F(CheckpointCrash, KillNineAtRandomMomentsAlwaysLeavesTheLastCompleteCheckpoint) {
  TempDir dir;
  std::mt19937 rng(20240501);
  std::uniform_int_distribution<int> delay_us(0, 150000);
  std::int64_t last_step = 0;
  int interrupted_saves = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < 40; ++round) {
    const pid_t pid = start_trainer(dir.path(), /*stop_aware=*/false);
    ASSERT_GT(pid, 0);
    ::usleep(static_cast<useconds_t>(round == 0 ? 0 : delay_us(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the fake trainer failed on its own: exit " << WEXITSTATUS(status);
    if (files::is_directory(files::join(dir.path(), "checkpoints"))) {  // absent when killed very early
      for (const std::string& name : files::list_directory(files::join(dir.path(), "checkpoints"))) {
        interrupted_saves += name.rfind(".tmp-step-", 0) == 0;
      }
    }
    const std::int64_t step = check_run_dir(dir.path());
    EXPECT_GE(step, last_step) << "round " << round << ": a complete checkpoint was lost";
    last_step = step;
    if (HasFailure()) break;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[          ] 40 kills in %.1f s: reached step %lld, %d kills inside a save\n", seconds,
              static_cast<long long>(last_step), interrupted_saves);
  EXPECT_GT(last_step, 3) << "the fake trainer hardly progressed, so the kills tested little";
}

TEST_F(CheckpointCrash, SigtermFinishesTheStepSavesAndExitsFive) {
  TempDir dir;
  const pid_t pid = start_trainer(dir.path(), /*stop_aware=*/true, /*step_ms=*/5, /*save_every=*/4);
  ASSERT_GT(pid, 0);
  // Let it save at least once, then ask it to stop between periodic saves.
  for (int i = 0; i < 2000 && !files::exists(files::join(dir.path(), "checkpoints/latest")); ++i) sleep_ms(5);
  sleep_ms(12);
  ::kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), static_cast<int>(ExitCode::kInterrupted));
  // The last step it logged is the step it saved: nothing after the last checkpoint is lost.
  const std::string metrics = read_file(dir.file("metrics.jsonl"));
  const std::string last_row = metrics.substr(metrics.rfind('\n', metrics.size() - 2) + 1);
  const std::int64_t logged = checkpoint::Json::parse(last_row).at("step").get<std::int64_t>();
  EXPECT_EQ(check_run_dir(dir.path()), logged);
}

// A second SIGTERM during a long step kills the process at once; the previous checkpoint stays good.
TEST_F(CheckpointCrash, SecondSigtermExitsAtOnceLeavingThePreviousCheckpoint) {
  TempDir dir;
  const pid_t pid = start_trainer(dir.path(), /*stop_aware=*/true, /*step_ms=*/300, /*save_every=*/1);
  ASSERT_GT(pid, 0);
  for (int i = 0; i < 2000 && !files::exists(files::join(dir.path(), "checkpoints/latest")); ++i) sleep_ms(5);
  sleep_ms(50);  // inside the next step
  ::kill(pid, SIGTERM);
  sleep_ms(50);
  ::kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "exited with " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_GE(check_run_dir(dir.path()), 1);
}

}  // namespace
}  // namespace distill::testing
