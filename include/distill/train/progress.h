// One updating status line on a terminal (step, loss, tokens/s, ETA); silent when stderr is not a tty.
#pragma once

#include <cstdint>
#include <string>

namespace distill::train {

class ProgressLine {
 public:
  ProgressLine();  // enabled when stderr is a terminal
  ~ProgressLine();
  bool enabled() const { return enabled_; }
  // step of max_steps done; the last logged loss and throughput; eta_s < 0 when unknown.
  void update(std::int64_t step, std::int64_t max_steps, double loss, double tokens_per_s, double eta_s);
  // Erases the line (before a log line is printed).
  void clear();

 private:
  bool enabled_;
  bool shown_ = false;
};

// "1h02m", "3m05s", "12s".
std::string format_duration(double seconds);

}  // namespace distill::train
