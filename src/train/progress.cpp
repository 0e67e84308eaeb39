// The terminal progress line: a bar, step counter, loss, tokens/s and ETA, redrawn in place.
#include "distill/train/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace distill::train {

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || !std::isfinite(seconds)) return "?";
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%llds", s);
  return buf;
}

ProgressLine::ProgressLine() : enabled_(isatty(STDERR_FILENO) == 1) {}

ProgressLine::~ProgressLine() { clear(); }

void ProgressLine::update(std::int64_t step, std::int64_t max_steps, double loss, double tokens_per_s, double eta_s) {
  if (!enabled_) return;
  constexpr int kWidth = 24;
  const double frac = max_steps > 0 ? static_cast<double>(step) / static_cast<double>(max_steps) : 0.0;
  const int filled = static_cast<int>(frac * kWidth);
  char bar[kWidth + 1];
  for (int i = 0; i < kWidth; ++i) bar[i] = i < filled ? '#' : '.';
  bar[kWidth] = '\0';
  std::fprintf(stderr, "\r\033[K[%s] step %lld/%lld  loss %.4f  %.0f tok/s  ETA %s", bar,
               static_cast<long long>(step), static_cast<long long>(max_steps), loss, tokens_per_s,
               format_duration(eta_s).c_str());
  std::fflush(stderr);
  shown_ = true;
}

void ProgressLine::clear() {
  if (!enabled_ || !shown_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  shown_ = false;
}

}  // namespace distill::train
