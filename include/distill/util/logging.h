// Project logging. spdlog stays inside logging.cpp (its fmt must not meet LibTorch's bundled fmt),
// so this header formats with its own small "{}" / "{:.Nf}" formatter over operator<<.
#pragma once

#include <cstddef>
#include <sstream>
#include <string>
#include <string_view>

namespace distill::log {

enum class Level { kTrace, kDebug, kInfo, kWarn, kError, kOff };

// Parses "trace|debug|info|warn|warning|error|off" (case-insensitive); throws UsageError naming `source`.
Level parse_level(const std::string& text, const std::string& source);

// Sets up the stderr logger once: colour when stderr is a terminal, plain lines otherwise (cron, CI).
// The level comes from `level_text` if given, else $DISTILL_LOG_LEVEL, else info.
void init(const std::string& level_text = {});
void set_level(Level level);
// Also writes every log line (plain, full timestamp, flushed line by line so a killed process loses
// nothing) to `path`, appended, until remove_file_sink(); the run directory's train.log. Replaces an
// earlier file sink; survives a later init(). Call while no other thread logs. Throws OutputError.
void add_file_sink(const std::string& path);
void remove_file_sink();
Level level();
bool enabled(Level level);
void write(Level level, const std::string& message);

namespace detail {

inline void append_until_placeholder(std::ostringstream& out, std::string_view& fmt, std::string_view& spec) {
  while (!fmt.empty()) {
    if (fmt.size() >= 2 && (fmt.substr(0, 2) == "{{" || fmt.substr(0, 2) == "}}")) {
      out << fmt[0];
      fmt.remove_prefix(2);
      continue;
    }
    if (fmt[0] == '{') {
      const std::size_t close = fmt.find('}');
      if (close != std::string_view::npos) {
        spec = fmt.substr(1, close - 1);  // "" or ":.2f"
        fmt.remove_prefix(close + 1);
        return;
      }
    }
    out << fmt[0];
    fmt.remove_prefix(1);
  }
  spec = std::string_view("\x01");  // no placeholder left
}

inline void format_into(std::ostringstream& out, std::string_view fmt) { out << fmt; }

template <typename T, typename... Rest>
void format_into(std::ostringstream& out, std::string_view fmt, const T& value, const Rest&... rest) {
  std::string_view spec;
  append_until_placeholder(out, fmt, spec);
  if (spec == "\x01") return;  // more arguments than placeholders: ignore the rest
  if (spec.size() >= 4 && spec[0] == ':' && spec[1] == '.' && spec.back() == 'f') {
    const auto flags = out.flags();
    const auto precision = out.precision();
    out.setf(std::ios::fixed, std::ios::floatfield);
    out.precision(std::stoi(std::string(spec.substr(2, spec.size() - 3))));
    out << value;
    out.flags(flags);
    out.precision(precision);
  } else {
    out << value;
  }
  format_into(out, fmt, rest...);
}

}  // namespace detail

// "{}" takes the next argument (anything with operator<<); "{:.2f}" fixes the precision.
template <typename... Args>
std::string format(std::string_view fmt, const Args&... args) {
  std::ostringstream out;
  detail::format_into(out, fmt, args...);
  return out.str();
}

template <typename... Args>
void trace(std::string_view fmt, const Args&... args) { if (enabled(Level::kTrace)) write(Level::kTrace, format(fmt, args...)); }
template <typename... Args>
void debug(std::string_view fmt, const Args&... args) { if (enabled(Level::kDebug)) write(Level::kDebug, format(fmt, args...)); }
template <typename... Args>
void info(std::string_view fmt, const Args&... args) { if (enabled(Level::kInfo)) write(Level::kInfo, format(fmt, args...)); }
template <typename... Args>
void warn(std::string_view fmt, const Args&... args) { if (enabled(Level::kWarn)) write(Level::kWarn, format(fmt, args...)); }
template <typename... Args>
void error(std::string_view fmt, const Args&... args) { if (enabled(Level::kError)) write(Level::kError, format(fmt, args...)); }

}  // namespace distill::log
