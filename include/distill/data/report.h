// The data report of distill tokenize: document lengths in tokens (histogram, share over the length
// limit) and, with data.label_field, the class distribution's entropy against its maximum.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace distill::data {

// A label distribution is "strongly skewed" when its entropy is below this share of the maximum,
// log2(classes) (e.g. two classes 80/20: 0.72; 70/30: 0.88), or when it has a single class.
constexpr double kSkewedEvenness = 0.75;

// Shannon entropy in bits of the distribution given by `counts` (zeros ignored; 0 for none).
double entropy_bits(const std::vector<std::int64_t>& counts);

class DataReport {
 public:
  // `limit_tokens`: the length limit (0: none).
  explicit DataReport(std::int64_t limit_tokens = 0) : limit_(limit_tokens) {}

  // One document (before any split) of `tokens` tokens; `label` when the label field is set.
  void add(std::int64_t tokens, const std::optional<std::string>& label, bool label_field_set);

  std::int64_t documents() const { return documents_; }
  std::int64_t over_limit() const { return over_; }

  struct Labels {
    std::map<std::string, std::int64_t> counts;  // class -> documents
    std::int64_t unlabeled = 0;                  // documents without the field
    double entropy_bits = 0, max_entropy_bits = 0;
    double evenness = 0;                         // entropy / maximum (1 for a uniform distribution)
    bool skewed = false;
  };
  std::optional<Labels> labels() const;

  nlohmann::ordered_json to_json() const;
  // Multi-line text for the terminal: the histogram as bars, the limit, the labels.
  std::string text() const;
  // One line each: over-limit documents, skewed labels.
  std::vector<std::string> warnings() const;

 private:
  std::int64_t limit_;
  std::int64_t documents_ = 0, tokens_ = 0, max_ = 0, over_ = 0, over_tokens_ = 0;
  std::vector<std::int64_t> buckets_;  // bucket k: lengths in [2^k, 2^(k+1)); lengths 0 in bucket 0
  bool label_field_ = false;
  std::map<std::string, std::int64_t> label_counts_;
  std::int64_t unlabeled_ = 0;
};

}  // namespace distill::data
