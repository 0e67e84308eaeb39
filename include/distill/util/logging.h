// Project logging: the only header that includes spdlog. Use distill::log::info(...) etc.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace distill::log {

enum class Level { kTrace, kDebug, kInfo, kWarn, kError, kOff };

// Parses "trace|debug|info|warn|warning|error|off" (case-insensitive); throws UsageError naming `source`.
Level parse_level(const std::string& text, const std::string& source);

// Sets up the stderr logger once: colour when stderr is a terminal, plain lines otherwise (cron, CI).
// The level comes from `level` if given, else $DISTILL_LOG_LEVEL, else info.
void init(const std::string& level_text = {});
void set_level(Level level);
Level level();

template <typename... Args>
void trace(spdlog::format_string_t<Args...> fmt, Args&&... args) { spdlog::trace(fmt, std::forward<Args>(args)...); }
template <typename... Args>
void debug(spdlog::format_string_t<Args...> fmt, Args&&... args) { spdlog::debug(fmt, std::forward<Args>(args)...); }
template <typename... Args>
void info(spdlog::format_string_t<Args...> fmt, Args&&... args) { spdlog::info(fmt, std::forward<Args>(args)...); }
template <typename... Args>
void warn(spdlog::format_string_t<Args...> fmt, Args&&... args) { spdlog::warn(fmt, std::forward<Args>(args)...); }
template <typename... Args>
void error(spdlog::format_string_t<Args...> fmt, Args&&... args) { spdlog::error(fmt, std::forward<Args>(args)...); }

}  // namespace distill::log
