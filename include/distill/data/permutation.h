// A seeded pseudo-random permutation of [0, n) computed index by index in O(1) memory: a Feistel
// network over the smallest even-bit power-of-two domain >= n, with cycle-walking back into [0, n).
#pragma once

#include <cstdint>

namespace distill::data {

class Permutation {
 public:
  // `shuffle` false gives the identity. Equal (n, seed, epoch), equal permutation.
  Permutation(std::uint64_t n, std::uint64_t seed, std::uint64_t epoch, bool shuffle = true);
  // The element at position i (i < n).
  std::uint64_t operator()(std::uint64_t i) const;
  std::uint64_t size() const { return n_; }

 private:
  static constexpr int kRounds = 6;
  std::uint64_t encrypt(std::uint64_t x) const;
  std::uint64_t n_;
  bool shuffle_;
  int half_bits_ = 1;
  std::uint64_t half_mask_ = 1;
  std::uint64_t keys_[kRounds] = {};
};

// SplitMix64's finalizer: a well-mixed 64-bit hash of x.
std::uint64_t mix64(std::uint64_t x);

}  // namespace distill::data
