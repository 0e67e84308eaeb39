// RunDir: the lock, debris cleanup, config.json, metrics.jsonl and train.log of a run directory.
#include "distill/checkpoint/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <stdexcept>

#include "distill/checkpoint/tensorboard.h"
#include "distill/io/atomic_file.h"
#include "distill/util/errors.h"
#include "distill/util/files.h"
#include "distill/util/logging.h"

namespace distill::checkpoint {
namespace {

const RunDir* g_log_owner = nullptr;  // the RunDir whose train.log is attached to the logger

std::string describe_holder(const std::string& text) {
  // "pid=1234 host=box started=2024-05-01T02:00:00Z"
  std::string pid, host, started;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find_first_of(" \n", pos), text.size());
    const std::string field = text.substr(pos, end - pos);
    if (field.rfind("pid=", 0) == 0) pid = field.substr(4);
    if (field.rfind("host=", 0) == 0) host = field.substr(5);
    if (field.rfind("started=", 0) == 0) started = field.substr(8);
    pos = end + 1;
  }
  if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) return "its pid is not recorded yet";
  std::string out = "pid " + pid;
  if (!host.empty()) out += " on host " + host;
  if (!started.empty()) out += ", started " + started;
  return out;
}

std::string holder_record() {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char started[32];
  std::strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return "pid=" + std::to_string(::getpid()) + " host=" + host + " started=" + started + "\n";
}

std::string read_fd(int fd) {
  std::string text;
  char buf[512];
  for (off_t offset = 0;; ) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, offset);
    if (n <= 0 || text.size() > 4096) break;
    text.append(buf, static_cast<std::size_t>(n));
    offset += n;
  }
  return text;
}

// Opens and flocks <dir>/lock without blocking; writes our pid into it once held.
int take_lock(const std::string& dir) {
  const std::string path = files::join(dir, kLockFile);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) throw OutputError(path, "cannot open the run directory's lock file: " + errno_text(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string holder = err == EWOULDBLOCK ? read_fd(fd) : std::string();
    ::close(fd);
    if (err == EWOULDBLOCK) {
      const std::string who = describe_holder(holder);
      const std::string pid = who.rfind("pid ", 0) == 0 ? who.substr(4, who.find_first_of(" ,", 4) - 4) : "";
      throw LockedError("run directory " + dir + " is in use by another distill run (" + who + ")",
                        "wait for that run to end" +
                            (pid.empty() ? std::string() : " (kill -TERM " + pid + " makes it save a checkpoint and exit 5)") +
                            ", or use another checkpoint.dir");
    }
    throw OutputError(path, "cannot lock: " + errno_text(err),
                      "the file system may not support flock (some network file systems); put checkpoint.dir on a local disk");
  }
  const std::string record = holder_record();
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, record.data(), record.size(), 0) != static_cast<ssize_t>(record.size())) {
    const int err = errno;
    ::close(fd);  // releases the lock
    throw OutputError(path, "cannot write the lock holder's pid: " + errno_text(err));
  }
  return fd;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

void config_diff(const Json& a, const Json& b, const std::string& prefix, std::vector<std::string>& out) {
  const std::string here = prefix.empty() ? "(config)" : prefix;
  if (a.is_object() && b.is_object()) {
    for (const auto& [key, value] : a.items()) {
      const std::string path = prefix.empty() ? key : prefix + "." + key;
      if (!b.contains(key)) {
        out.push_back(path + ": " + value.dump() + " -> (absent)");
      } else {
        config_diff(value, b.at(key), path, out);
      }
    }
    for (const auto& [key, value] : b.items()) {
      if (!a.contains(key)) out.push_back((prefix.empty() ? key : prefix + "." + key) + ": (absent) -> " + value.dump());
    }
    return;
  }
  if (a != b) out.push_back(here + ": " + a.dump() + " -> " + b.dump());
}

}  // namespace

ResumeMode parse_resume_mode(const std::string& text) {
  if (text == "auto") return ResumeMode::kAuto;
  if (text == "always") return ResumeMode::kAlways;
  if (text == "never") return ResumeMode::kNever;
  throw UsageError("--resume: unknown mode '" + text + "'",
                   "use auto (resume when the run directory has a checkpoint), always (it must have one) or never (start fresh)");
}

std::vector<std::string> config_changes(const Json& before, const Json& after) {
  std::vector<std::string> out;
  config_diff(before, after, "", out);
  return out;
}

RunDir::RunDir(std::string dir) : dir_(std::move(dir)) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  files::create_directories(dir_);
  lock_fd_ = take_lock(dir_);
  try {
    files::create_directories(checkpoints_dir());
    remove_debris();
    const std::string metrics = files::join(dir_, kMetricsFile);
    metrics_fd_ = ::open(metrics.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (metrics_fd_ < 0) throw OutputError(metrics, "cannot open for appending: " + errno_text(errno));
    append_files_.push_back(kMetricsFile);
    tensorboard_ = std::make_unique<TensorBoardWriter>(files::join(dir_, kTensorBoardEventsFile));
    append_files_.push_back(kTensorBoardEventsFile);
    log::add_file_sink(files::join(dir_, kLogFile));
    g_log_owner = this;
  } catch (...) {
    if (metrics_fd_ >= 0) ::close(metrics_fd_);
    ::close(lock_fd_);
    throw;
  }
  log::info("run directory {} (locked by pid {})", dir_, ::getpid());
}

RunDir::~RunDir() {
  tensorboard_.reset();
  if (g_log_owner == this) {
    log::remove_file_sink();
    g_log_owner = nullptr;
  }
  if (metrics_fd_ >= 0) ::close(metrics_fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

std::string RunDir::checkpoints_dir() const { return files::join(dir_, kCheckpointsDir); }

// Leftovers of a process killed while saving. We hold the lock, so no one else is writing them.
void RunDir::remove_debris() {
  const std::string ck = checkpoints_dir();
  for (const std::string& name : files::list_directory(ck)) {
    const std::string path = files::join(ck, name);
    if (starts_with(name, ".tmp-")) {
      log::info("removing {}, left by an interrupted save", path);
      files::remove_tree(path);
    } else if (starts_with(name, std::string(".") + kLatestFile + ".tmp.")) {
      files::remove_file(path);
    }
  }
  for (const std::string& name : files::list_directory(dir_)) {
    if (starts_with(name, std::string(".") + kConfigFile + ".tmp.")) files::remove_file(files::join(dir_, name));
  }
}

void RunDir::track_append_file(const std::string& relative_path) {
  if (!files::is_contained_relative(relative_path)) {
    throw std::logic_error("RunDir::track_append_file: '" + relative_path + "' is not a relative path inside the run directory");
  }
  if (resume_decided_) throw std::logic_error("RunDir::track_append_file after resume()");
  append_files_.push_back(relative_path);
}

std::vector<std::string> RunDir::set_config(const Json& resolved) {
  io::write_file_atomic(files::join(dir_, kConfigFile), resolved.dump(2) + "\n");
  config_ = resolved;
  if (resumed_config_.is_null()) return {};
  const std::vector<std::string> changes = config_changes(resumed_config_, resolved);
  for (const std::string& change : changes) log::info("config differs from the checkpoint's: {}", change);
  return changes;
}

void RunDir::append_metrics(const Json& row) {
  if (!resume_decided_) throw std::logic_error("RunDir::append_metrics before resume()");
  const std::string line = row.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  const std::string path = files::join(dir_, kMetricsFile);
  struct stat st {};
  if (::fstat(metrics_fd_, &st) != 0) throw OutputError(path, "cannot stat: " + errno_text(errno));
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(metrics_fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      // Leave whole rows only: cut off what part of this one did get written.
      if (::ftruncate(metrics_fd_, st.st_size) != 0) {
        log::warn("{}: could not remove a partly written row: {}", path, errno_text(errno));
      }
      throw OutputError(path, "cannot append a metrics row: " + errno_text(err));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  try {
    tensorboard_->append(row);
  } catch (const OutputError&) {
    // Keep metrics.jsonl and the events file holding the same rows.
    if (::ftruncate(metrics_fd_, st.st_size) != 0) {
      log::warn("{}: could not remove the row whose TensorBoard event failed: {}", path, errno_text(errno));
    }
    throw;
  }
}

}  // namespace distill::checkpoint
