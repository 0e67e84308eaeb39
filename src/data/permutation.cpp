// Feistel-network permutation with cycle-walking (see permutation.h).
#include "distill/data/permutation.h"

namespace distill::data {

std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

Permutation::Permutation(std::uint64_t n, std::uint64_t seed, std::uint64_t epoch, bool shuffle)
    : n_(n), shuffle_(shuffle && n > 1) {
  if (!shuffle_) return;
  int bits = 0;
  while (bits < 64 && (std::uint64_t(1) << bits) < n) ++bits;
  half_bits_ = (bits + 1) / 2;
  if (half_bits_ < 1) half_bits_ = 1;
  half_mask_ = (std::uint64_t(1) << half_bits_) - 1;
  std::uint64_t k = mix64(seed ^ mix64(epoch + 0x5EED));
  for (auto& key : keys_) {
    k = mix64(k);
    key = k;
  }
}

std::uint64_t Permutation::encrypt(std::uint64_t x) const {
  std::uint64_t left = x >> half_bits_, right = x & half_mask_;
  for (const std::uint64_t key : keys_) {
    const std::uint64_t next = left ^ (mix64(right ^ key) & half_mask_);
    left = right;
    right = next;
  }
  return (left << half_bits_) | right;
}

std::uint64_t Permutation::operator()(std::uint64_t i) const {
  if (!shuffle_) return i;
  // The domain is < 4n, so the walk ends after a few steps on average; it ends because encrypt is
  // a bijection of the domain and i's cycle contains i itself (< n).
  std::uint64_t x = encrypt(i);
  while (x >= n_) x = encrypt(x);
  return x;
}

}  // namespace distill::data
