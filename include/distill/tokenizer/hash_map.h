// Small open-addressing hash maps for the BPE hot path: byte strings -> u32, and u64 -> value.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace distill::tokenizer {

// 64-bit hash of a byte string (8 bytes at a time, murmur-style finalizer).
inline std::uint64_t hash_bytes(std::string_view s) {
  constexpr std::uint64_t kMul = 0x9E3779B97F4A7C15ULL;
  std::uint64_t h = kMul ^ (s.size() * 0xC2B2AE3D27D4EB4FULL);
  const char* p = s.data();
  std::size_t n = s.size();
  while (n >= 8) {
    std::uint64_t k;
    std::memcpy(&k, p, 8);
    k *= 0xBF58476D1CE4E5B9ULL;
    k ^= k >> 31;
    h = (h ^ k) * kMul;
    p += 8;
    n -= 8;
  }
  if (n) {
    std::uint64_t k = 0;
    std::memcpy(&k, p, n);
    k *= 0xBF58476D1CE4E5B9ULL;
    k ^= k >> 31;
    h = (h ^ k) * kMul;
  }
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDULL;
  h ^= h >> 33;
  return h;
}

// Byte string -> u32. Keys are copied into one arena; no erase (clear() drops everything).
class StringMap {
 public:
  static constexpr std::uint32_t kMissing = 0xFFFFFFFFu;

  std::size_t size() const { return size_; }

  void clear() {
    slots_.clear();
    arena_.clear();
    size_ = 0;
  }

  std::uint32_t find(std::string_view key) const {
    if (slots_.empty()) return kMissing;
    const std::uint64_t h = hash_bytes(key) | 1;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.hash == 0) return kMissing;
      if (s.hash == h && s.len == key.size() && std::memcmp(arena_.data() + s.offset, key.data(), key.size()) == 0) {
        return s.value;
      }
    }
  }

  // Inserts or overwrites.
  void set(std::string_view key, std::uint32_t value) {
    if ((size_ + 1) * 4 >= slots_.size() * 3) grow();
    const std::uint64_t h = hash_bytes(key) | 1;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.hash == 0) {
        s = {h, static_cast<std::uint32_t>(arena_.size()), static_cast<std::uint32_t>(key.size()), value};
        arena_.append(key.data(), key.size());
        ++size_;
        return;
      }
      if (s.hash == h && s.len == key.size() && std::memcmp(arena_.data() + s.offset, key.data(), key.size()) == 0) {
        s.value = value;
        return;
      }
    }
  }

  std::size_t memory_bytes() const { return slots_.size() * sizeof(Slot) + arena_.capacity(); }

 private:
  struct Slot {
    std::uint64_t hash;  // 0: empty
    std::uint32_t offset;
    std::uint32_t len;
    std::uint32_t value;
  };

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 64 : old.size() * 2, Slot{0, 0, 0, 0});
    const std::size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.hash == 0) continue;
      std::size_t i = s.hash & mask;
      while (slots_[i].hash != 0) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  std::string arena_;
  std::size_t size_ = 0;
};

// u64 -> V for keys that are never ~0.
template <typename V>
class U64Map {
 public:
  static constexpr std::uint64_t kEmpty = ~std::uint64_t{0};

  const V* find(std::uint64_t key) const {
    if (slots_.empty()) return nullptr;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = mix(key) & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.value;
      if (s.key == kEmpty) return nullptr;
    }
  }

  void set(std::uint64_t key, const V& value) {
    if ((size_ + 1) * 4 >= slots_.size() * 3) grow();
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = mix(key) & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.key == key) {
        s.value = value;
        return;
      }
      if (s.key == kEmpty) {
        s.key = key;
        s.value = value;
        ++size_;
        return;
      }
    }
  }

  std::size_t size() const { return size_; }

 private:
  struct Slot {
    std::uint64_t key;
    V value;
  };
  static std::uint64_t mix(std::uint64_t k) {
    k ^= k >> 33;
    k *= 0xFF51AFD7ED558CCDULL;
    k ^= k >> 33;
    return k;
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 64 : old.size() * 2, Slot{kEmpty, V{}});
    const std::size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.key == kEmpty) continue;
      std::size_t i = mix(s.key) & mask;
      while (slots_[i].key != kEmpty) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
};

}  // namespace distill::tokenizer
