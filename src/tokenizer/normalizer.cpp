// Normalizer implementations; NFC/NFD skip the work when a quick check proves the text unchanged.
#include "distill/tokenizer/normalizer.h"

#include "distill/tokenizer/unicode.h"

namespace distill::tokenizer {
namespace {

class UnicodeNormalizer : public Normalizer {
 public:
  UnicodeNormalizer(unicode::Form form, int version) : form_(form), version_(version) {}
  void normalize(NormalizedString& s) const override {
    if (unicode::is_normalized_quick(s.text(), form_, version_)) return;
    thread_local std::vector<unicode::CharChange> changes;
    unicode::normalize(s.text(), form_, version_, changes);
    s.transform(changes);
  }

 private:
  unicode::Form form_;
  int version_;
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prepend) : prepend_(std::move(prepend)) {}
  void normalize(NormalizedString& s) const override { s.prepend(prepend_); }

 private:
  std::string prepend_;
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(Regex pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(NormalizedString& s) const override {
    thread_local std::vector<std::pair<std::size_t, std::size_t>> matches;
    matches.clear();
    pattern_.find_all(s.text(), matches);
    s.replace(matches, content_);
  }

 private:
  Regex pattern_;
  std::string content_;
};

class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(NormalizedString& s) const override { s.strip(left_, right_); }

 private:
  bool left_, right_;
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  void normalize(NormalizedString& s) const override {
    for (const auto& step : steps_) step->normalize(s);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

std::unique_ptr<Normalizer> make_unicode_normalizer(unicode::Form form, int unicode_version) {
  return std::make_unique<UnicodeNormalizer>(form, unicode_version);
}
std::unique_ptr<Normalizer> make_prepend_normalizer(std::string prepend) {
  return std::make_unique<PrependNormalizer>(std::move(prepend));
}
std::unique_ptr<Normalizer> make_replace_normalizer(Regex pattern, std::string content) {
  return std::make_unique<ReplaceNormalizer>(std::move(pattern), std::move(content));
}
std::unique_ptr<Normalizer> make_strip_normalizer(bool left, bool right) {
  return std::make_unique<StripNormalizer>(left, right);
}
std::unique_ptr<Normalizer> make_sequence_normalizer(std::vector<std::unique_ptr<Normalizer>> steps) {
  return std::make_unique<SequenceNormalizer>(std::move(steps));
}

}  // namespace distill::tokenizer
