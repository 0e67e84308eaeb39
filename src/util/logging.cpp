// spdlog set-up: one stderr sink, coloured only on a terminal, level from flag or environment.
#include "distill/util/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "distill/util/errors.h"

namespace distill::log {
namespace {

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::kTrace: return spdlog::level::trace;
    case Level::kDebug: return spdlog::level::debug;
    case Level::kInfo: return spdlog::level::info;
    case Level::kWarn: return spdlog::level::warn;
    case Level::kError: return spdlog::level::err;
    case Level::kOff: return spdlog::level::off;
  }
  return spdlog::level::info;
}

Level current_level = Level::kInfo;
std::shared_ptr<spdlog::sinks::sink> file_sink;  // train.log, when a run directory is open

constexpr const char* kPlainPattern = "%Y-%m-%d %H:%M:%S.%e %l %v";

void detach(const std::shared_ptr<spdlog::logger>& logger, const std::shared_ptr<spdlog::sinks::sink>& sink) {
  auto& sinks = logger->sinks();
  sinks.erase(std::remove(sinks.begin(), sinks.end(), sink), sinks.end());
}

}  // namespace

Level parse_level(const std::string& text, const std::string& source) {
  std::string t = text;
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  if (t == "trace") return Level::kTrace;
  if (t == "debug") return Level::kDebug;
  if (t == "info") return Level::kInfo;
  if (t == "warn" || t == "warning") return Level::kWarn;
  if (t == "error") return Level::kError;
  if (t == "off") return Level::kOff;
  throw UsageError(source + ": unknown log level '" + text + "'",
                   "use one of trace, debug, info, warn, error, off");
}

void init(const std::string& level_text) {
  const bool tty = isatty(STDERR_FILENO) == 1;
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(
      tty ? spdlog::color_mode::automatic : spdlog::color_mode::never);
  auto logger = std::make_shared<spdlog::logger>("distill", sink);
  // Terminal: short time and coloured level. Cron/CI: full timestamp, plain text, greppable.
  logger->set_pattern(tty ? "%H:%M:%S %^%l%$ %v" : kPlainPattern);
  if (file_sink) {
    logger->sinks().push_back(file_sink);
    logger->flush_on(spdlog::level::trace);
  }
  spdlog::set_default_logger(logger);

  Level level = Level::kInfo;
  if (!level_text.empty()) {
    level = parse_level(level_text, "--log-level");
  } else if (const char* env = std::getenv("DISTILL_LOG_LEVEL"); env && *env) {
    level = parse_level(env, "DISTILL_LOG_LEVEL");
  }
  set_level(level);
}

void set_level(Level level) {
  current_level = level;
  spdlog::set_level(to_spdlog(level));
}

Level level() { return current_level; }

void add_file_sink(const std::string& path) {
  remove_file_sink();
  std::shared_ptr<spdlog::sinks::sink> sink;
  try {
    sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/false);
  } catch (const spdlog::spdlog_ex& e) {
    throw OutputError(path, std::string("cannot open the log file: ") + e.what());
  }
  sink->set_pattern(kPlainPattern);
  const auto logger = spdlog::default_logger();
  logger->sinks().push_back(sink);
  logger->flush_on(spdlog::level::trace);
  file_sink = std::move(sink);
}

void remove_file_sink() {
  if (!file_sink) return;
  const auto logger = spdlog::default_logger();
  logger->flush();
  detach(logger, file_sink);
  logger->flush_on(spdlog::level::off);
  file_sink.reset();
}

bool enabled(Level l) { return l >= current_level && current_level != Level::kOff; }

void write(Level l, const std::string& message) {
  if (!enabled(l)) return;
  spdlog::log(to_spdlog(l), "{}", message);
}

}  // namespace distill::log
