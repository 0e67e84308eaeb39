// Progress: throttled terminal line or plain log lines.
#include "progress.h"

#include <unistd.h>

#include <cstdio>

#include "distill/util/logging.h"

namespace distill::data {
namespace {

std::string duration_text(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  const long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

}  // namespace

Progress::Progress(std::string what, std::uint64_t total_bytes, double every_s)
    : what_(std::move(what)), total_(total_bytes), every_s_(every_s),
      terminal_(::isatty(2) && log::enabled(log::Level::kInfo)), start_(Clock::now()), last_(start_) {}

Progress::~Progress() { done(); }

std::string Progress::line(std::uint64_t bytes, std::int64_t documents, std::int64_t tokens) const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const double mb = static_cast<double>(bytes) / 1e6, total_mb = static_cast<double>(total_) / 1e6;
  const double rate = elapsed > 0 ? mb / elapsed : 0;
  const double eta = rate > 0 ? (total_mb - mb) / rate : -1;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s: %5.1f%%  %.1f/%.1f MB  %.1f MB/s  ETA %s  %lld documents  %lld tokens",
                what_.c_str(), total_ ? 100.0 * mb / total_mb : 100.0, mb, total_mb, rate, duration_text(eta).c_str(),
                static_cast<long long>(documents), static_cast<long long>(tokens));
  return buf;
}

void Progress::update(std::uint64_t bytes, std::int64_t documents, std::int64_t tokens) {
  const auto now = Clock::now();
  const double since = std::chrono::duration<double>(now - last_).count();
  if (terminal_) {
    if (since < 0.25 && drawn_) return;
    std::fprintf(stderr, "\r\033[K%s", line(bytes, documents, tokens).c_str());
    std::fflush(stderr);
    drawn_ = true;
  } else {
    if (since < every_s_) return;
    log::info("{}", line(bytes, documents, tokens));
  }
  last_ = now;
}

void Progress::done() {
  if (terminal_ && drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    drawn_ = false;
  }
}

}  // namespace distill::data
