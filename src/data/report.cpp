// DataReport: length histogram, the share over the length limit, label entropy.
#include "distill/data/report.h"

#include <cmath>
#include <cstdio>

namespace distill::data {
namespace {

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string bucket_label(std::size_t k) {
  const std::int64_t lo = std::int64_t(1) << k, hi = (std::int64_t(1) << (k + 1)) - 1;
  return lo == hi ? std::to_string(lo) : std::to_string(lo) + "-" + std::to_string(hi);
}

}  // namespace

double entropy_bits(const std::vector<std::int64_t>& counts) {
  double total = 0;
  for (auto c : counts) total += static_cast<double>(c);
  if (total <= 0) return 0;
  double h = 0;
  for (auto c : counts) {
    if (c <= 0) continue;
    const double p = static_cast<double>(c) / total;
    h -= p * std::log2(p);
  }
  return h;
}

void DataReport::add(std::int64_t tokens, const std::optional<std::string>& label, bool label_field_set) {
  ++documents_;
  tokens_ += tokens;
  if (tokens > max_) max_ = tokens;
  std::size_t k = 0;
  while (k < 62 && (std::int64_t(1) << (k + 1)) <= tokens) ++k;
  if (buckets_.size() <= k) buckets_.resize(k + 1, 0);
  ++buckets_[k];
  if (limit_ > 0 && tokens > limit_) {
    ++over_;
    over_tokens_ += tokens - limit_;
  }
  label_field_ = label_field_ || label_field_set;
  if (label_field_set) {
    if (label) ++label_counts_[*label];
    else ++unlabeled_;
  }
}

std::optional<DataReport::Labels> DataReport::labels() const {
  if (!label_field_) return std::nullopt;
  Labels l;
  l.counts = label_counts_;
  l.unlabeled = unlabeled_;
  std::vector<std::int64_t> counts;
  for (const auto& [name, c] : label_counts_) counts.push_back(c);
  l.entropy_bits = entropy_bits(counts);
  l.max_entropy_bits = counts.size() > 1 ? std::log2(static_cast<double>(counts.size())) : 0.0;
  l.evenness = l.max_entropy_bits > 0 ? l.entropy_bits / l.max_entropy_bits : 0.0;
  l.skewed = !counts.empty() && (counts.size() < 2 || l.evenness < kSkewedEvenness);
  return l;
}

nlohmann::ordered_json DataReport::to_json() const {
  nlohmann::ordered_json j;
  j["documents"] = documents_;
  j["tokens"] = tokens_;
  j["mean_tokens"] = documents_ ? static_cast<double>(tokens_) / static_cast<double>(documents_) : 0.0;
  j["max_tokens"] = max_;
  auto hist = nlohmann::ordered_json::array();
  for (std::size_t k = 0; k < buckets_.size(); ++k) {
    if (buckets_[k] == 0) continue;
    hist.push_back({{"min", std::int64_t(1) << k}, {"max", (std::int64_t(1) << (k + 1)) - 1}, {"documents", buckets_[k]}});
  }
  j["length_histogram"] = hist;
  j["limit_tokens"] = limit_;
  j["over_limit"] = {{"documents", over_},
                     {"share", documents_ ? static_cast<double>(over_) / static_cast<double>(documents_) : 0.0},
                     {"tokens_beyond_limit", over_tokens_}};
  if (const auto l = labels()) {
    nlohmann::ordered_json classes = nlohmann::ordered_json::object();
    for (const auto& [name, c] : l->counts) classes[name] = c;
    j["labels"] = {{"classes", classes},
                   {"unlabeled", l->unlabeled},
                   {"entropy_bits", l->entropy_bits},
                   {"max_entropy_bits", l->max_entropy_bits},
                   {"evenness", l->evenness},
                   {"skewed", l->skewed},
                   {"skewed_below_evenness", kSkewedEvenness}};
  }
  return j;
}

std::string DataReport::text() const {
  std::string s = "data report: " + std::to_string(documents_) + " documents, " + std::to_string(tokens_) +
                  " tokens, mean " + fixed(documents_ ? double(tokens_) / double(documents_) : 0.0, 1) +
                  ", max " + std::to_string(max_) + "\n  tokens per document:\n";
  std::int64_t most = 1;
  for (auto c : buckets_) most = c > most ? c : most;
  for (std::size_t k = 0; k < buckets_.size(); ++k) {
    if (buckets_[k] == 0) continue;
    char line[160];
    const int bar = static_cast<int>(std::lround(40.0 * double(buckets_[k]) / double(most)));
    std::snprintf(line, sizeof line, "  %15s | %-40s %lld (%.1f%%)\n", bucket_label(k).c_str(),
                  std::string(static_cast<std::size_t>(bar > 0 ? bar : 1), '#').c_str(),
                  static_cast<long long>(buckets_[k]), 100.0 * double(buckets_[k]) / double(documents_));
    s += line;
  }
  if (limit_ > 0) {
    s += "  over the limit of " + std::to_string(limit_) + " tokens: " + std::to_string(over_) + " documents (" +
         fixed(documents_ ? 100.0 * double(over_) / double(documents_) : 0.0, 2) + "%), " +
         std::to_string(over_tokens_) + " tokens beyond it\n";
  } else {
    s += "  no length limit\n";
  }
  if (const auto l = labels()) {
    s += "  labels: " + std::to_string(l->counts.size()) + " classes";
    for (const auto& [name, c] : l->counts) s += (&name == &l->counts.begin()->first ? " (" : ", ") + name + ": " + std::to_string(c);
    if (!l->counts.empty()) s += ")";
    if (l->unlabeled) s += ", " + std::to_string(l->unlabeled) + " unlabeled";
    s += "\n  label entropy " + fixed(l->entropy_bits, 3) + " bits of a maximum " + fixed(l->max_entropy_bits, 3) +
         " (log2 " + std::to_string(l->counts.size()) + "), evenness " + fixed(l->evenness, 3) + "\n";
  }
  return s;
}

std::vector<std::string> DataReport::warnings() const {
  std::vector<std::string> w;
  if (limit_ > 0 && over_ > 0) {
    w.push_back(std::to_string(over_) + " of " + std::to_string(documents_) + " documents (" +
                fixed(100.0 * double(over_) / double(documents_), 2) + "%) are longer than the limit of " +
                std::to_string(limit_) + " tokens");
  }
  if (const auto l = labels(); l && l->skewed) {
    w.push_back(l->counts.size() < 2
                    ? "the labels hold a single class"
                    : "the label distribution is strongly skewed: entropy " + fixed(l->entropy_bits, 3) + " bits of " +
                          fixed(l->max_entropy_bits, 3) + " possible (evenness " + fixed(l->evenness, 3) + " < " +
                          fixed(kSkewedEvenness, 2) + ")");
  }
  return w;
}

}  // namespace distill::data
