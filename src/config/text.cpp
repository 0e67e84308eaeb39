// Text pieces for config messages: number formatting, value descriptions, edit distance.
#include "text.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace distill::config::text {

std::string number(double x) {
  if (std::isfinite(x) && std::floor(x) == x && std::fabs(x) < 1e15) {
    return std::to_string(static_cast<long long>(x));
  }
  return Json(x).dump();
}

std::string compact(const Json& value) {
  constexpr std::size_t kMax = 60;
  std::string s = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > kMax) s = s.substr(0, kMax - 3) + "...";
  return s;
}

std::string describe(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "boolean " + compact(value);
    case Json::value_t::string: return "string " + compact(value);
    case Json::value_t::array: return "list " + compact(value);
    case Json::value_t::object: return "section " + compact(value);
    default: return "number " + compact(value);
  }
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  const std::size_t n = a.size(), m = b.size();
  auto eq = [&](std::size_t i, std::size_t j) {
    return std::tolower(static_cast<unsigned char>(a[i])) == std::tolower(static_cast<unsigned char>(b[j]));
  };
  // d[i][j]: distance between the first i characters of a and the first j of b.
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (eq(i - 1, j - 1) ? 0 : 1)});
      if (i > 1 && j > 1 && eq(i - 1, j - 2) && eq(i - 2, j - 1)) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

std::size_t max_typos(std::size_t length) { return length <= 3 ? 1 : std::max<std::size_t>(2, length / 3); }

std::optional<std::string> closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  std::size_t best_distance = max_typos(word.size()) + 1;
  for (const auto& c : candidates) {
    const std::size_t d = edit_distance(word, c);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? separator : "") + parts[i];
  return out;
}

}  // namespace distill::config::text
