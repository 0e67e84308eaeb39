// Progress of a long byte-counted job: one updating line on a terminal (MB/s, ETA), periodic plain
// log lines otherwise (cron, CI). Private to src/data.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace distill::data {

class Progress {
 public:
  // `every_s`: seconds between plain lines when stderr is not a terminal (0: every update).
  Progress(std::string what, std::uint64_t total_bytes, double every_s);
  ~Progress();
  void update(std::uint64_t bytes, std::int64_t documents, std::int64_t tokens);
  // Clears the terminal line.
  void done();

 private:
  std::string line(std::uint64_t bytes, std::int64_t documents, std::int64_t tokens) const;
  using Clock = std::chrono::steady_clock;
  std::string what_;
  std::uint64_t total_;
  double every_s_;
  bool terminal_;
  bool drawn_ = false;
  Clock::time_point start_, last_;
};

}  // namespace distill::data
