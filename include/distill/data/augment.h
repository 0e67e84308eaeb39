// data.augment: documents piped through a user command that answers each with 0..n extra
// documents (protocol: docs/data.md, "Augmentation"), cached by (command, document) hash.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace distill {
class Subprocess;
}

namespace distill::data {

struct AugmentOptions {
  std::vector<std::string> command;  // argv; empty: no augmentation
  bool shell = false;                // command[0] is run by /bin/sh -c
  double timeout_s = 60.0;           // inactivity limit (no byte read or written)
  std::string cache_file;            // JSONL cache; empty: no cache
};

// Error classes: a command that cannot be started is a UsageError (exit 2: fix data.augment.command);
// one that fails, times out or breaks the protocol is an InputError (exit 3) naming the command,
// what went wrong and the tail of its stderr.
class Augmenter {
 public:
  explicit Augmenter(AugmentOptions options);
  ~Augmenter();
  Augmenter(const Augmenter&) = delete;
  Augmenter& operator=(const Augmenter&) = delete;

  // The extra documents for each text, in order: cached answers, the rest from the command (started
  // on the first miss and kept running across calls).
  std::vector<std::vector<std::string>> run(const std::vector<std::string_view>& texts);
  // Ends the command (its exit status must be 0) and makes the cache durable.
  void finish();

  std::int64_t cache_hits() const { return hits_; }
  std::int64_t computed() const { return computed_; }
  // "python3 aug.py" as shown in messages.
  std::string command_text() const;

 private:
  std::string key(std::string_view text) const;
  void load_cache();
  std::vector<std::string> cached(const std::string& key) const;
  void store(const std::string& key, const std::vector<std::string>& texts);
  [[noreturn]] void fail(const std::string& what, bool kill);

  AugmentOptions options_;
  std::vector<std::string> argv_;
  std::string identity_;  // hashed into every cache key
  std::unique_ptr<Subprocess> child_;
  std::unordered_map<std::string, std::pair<std::uint64_t, std::uint64_t>> index_;  // key -> line offset, size
  int cache_fd_ = -1;
  std::uint64_t cache_size_ = 0;
  std::int64_t hits_ = 0, computed_ = 0;
};

}  // namespace distill::data
