// Canonical decomposition, reordering and composition over generated UCD tables, per Unicode version.
#include "distill/tokenizer/unicode.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "distill/tokenizer/utf8.h"

namespace distill::tokenizer::unicode {
namespace {

struct CccRange {
  char32_t first, last;
  std::uint8_t ccc, age;
};
struct DecompositionEntry {
  char32_t cp;
  std::uint16_t offset;
  std::uint8_t length, age;
};
struct CompositionEntry {
  char32_t first, second, composite;
  std::uint8_t age;
};

#include "unicode_tables.inc"

// ---- Hangul syllables (Unicode 3.12): composed and decomposed arithmetically
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

bool is_hangul_syllable(char32_t c) { return c >= kSBase && c < kSBase + kSCount; }

// A byte per code point, stored as 256-entry blocks; untouched blocks share the zero block.
class ByteTable {
 public:
  ByteTable() : index_(0x110000 >> 8, 0), blocks_(1) { blocks_[0].fill(0); }
  std::uint8_t get(char32_t c) const {
    if (c >= 0x110000) return 0;
    return blocks_[index_[c >> 8]][c & 0xFF];
  }
  void set(char32_t c, std::uint8_t v) {
    auto& slot = index_[c >> 8];
    if (slot == 0) {
      blocks_.emplace_back();
      blocks_.back().fill(0);
      slot = static_cast<std::uint16_t>(blocks_.size() - 1);
    }
    blocks_[slot][c & 0xFF] = v;
  }

 private:
  std::vector<std::uint16_t> index_;
  std::vector<std::array<std::uint8_t, 256>> blocks_;
};

constexpr std::uint8_t kNfcUnstable = 1;  // NFC may change the text around this character
constexpr std::uint8_t kNfdUnstable = 2;  // NFD may change it

// The tables restricted to one Unicode version.
class VersionTables {
 public:
  explicit VersionTables(int version) {
    for (const auto& r : kCccRanges) {
      if (r.age > version) continue;
      for (char32_t c = r.first; c <= r.last; ++c) {
        ccc_.set(c, r.ccc);
        flags_.set(c, flags_.get(c) | kNfcUnstable | kNfdUnstable);
      }
    }
    for (const auto& d : kDecompositions) {
      if (d.age > version) continue;
      decompositions_.emplace(d.cp, std::make_pair(d.offset, d.length));
      flags_.set(d.cp, flags_.get(d.cp) | kNfdUnstable);
    }
    for (const auto& m : kCompositions) {
      if (m.age > version) continue;
      compositions_.emplace(key(m.first, m.second), m.composite);
      flags_.set(m.second, flags_.get(m.second) | kNfcUnstable);
    }
    // A decomposable character that is not a primary composite never survives NFC.
    std::unordered_map<char32_t, bool> composites;
    for (const auto& [k, c] : compositions_) composites[c] = true;
    for (const auto& [cp, where] : decompositions_) {
      if (!composites.count(cp)) flags_.set(cp, flags_.get(cp) | kNfcUnstable);
    }
    for (char32_t c = kVBase; c < kVBase + kVCount; ++c) flags_.set(c, flags_.get(c) | kNfcUnstable);
    for (char32_t c = kTBase + 1; c < kTBase + kTCount; ++c) flags_.set(c, flags_.get(c) | kNfcUnstable);
    for (char32_t c = kSBase; c < kSBase + kSCount; ++c) flags_.set(c, flags_.get(c) | kNfdUnstable);
  }

  std::uint8_t ccc(char32_t c) const { return ccc_.get(c); }
  std::uint8_t flags(char32_t c) const { return flags_.get(c); }

  // Calls emit(d) for each character of c's full canonical decomposition (c itself if none).
  template <typename F>
  void decompose(char32_t c, F&& emit) const {
    if (is_hangul_syllable(c)) {
      const char32_t s = c - kSBase;
      emit(kLBase + s / kNCount);
      emit(kVBase + (s % kNCount) / kTCount);
      if (s % kTCount != 0) emit(kTBase + s % kTCount);
      return;
    }
    const auto it = decompositions_.find(c);
    if (it == decompositions_.end()) {
      emit(c);
      return;
    }
    for (std::uint8_t i = 0; i < it->second.second; ++i) emit(kDecompositionPool[it->second.first + i]);
  }

  // The primary composite of (a, b), or 0.
  char32_t compose(char32_t a, char32_t b) const {
    if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
      return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
    }
    if (is_hangul_syllable(a) && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount) {
      return a + (b - kTBase);
    }
    const auto it = compositions_.find(key(a, b));
    return it == compositions_.end() ? 0 : it->second;
  }

 private:
  static std::uint64_t key(char32_t a, char32_t b) { return (std::uint64_t(a) << 32) | b; }

  ByteTable ccc_;
  ByteTable flags_;
  std::unordered_map<char32_t, std::pair<std::uint16_t, std::uint8_t>> decompositions_;
  std::unordered_map<std::uint64_t, char32_t> compositions_;
};

static_assert(kUcdVersion < 256, "tables() indexes versions by major*10+minor < 256");

// Built once per version; the hot path reads an atomic pointer, the mutex only guards building.
const VersionTables& tables(int version) {
  static std::array<std::atomic<const VersionTables*>, 256> ready{};
  static std::mutex mu;
  static std::map<int, std::unique_ptr<VersionTables>> owned;
  // Versions above the data's own are the data's own.
  version = std::max(0, std::min(version, kUcdVersion));
  if (const VersionTables* t = ready[static_cast<std::size_t>(version)].load(std::memory_order_acquire)) return *t;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = owned[version];
  if (!slot) slot = std::make_unique<VersionTables>(version);
  ready[static_cast<std::size_t>(version)].store(slot.get(), std::memory_order_release);
  return *slot;
}

struct Pending {
  char32_t c;
  int change;
  std::uint8_t ccc;
};

// Canonical decomposition with canonical ordering: every run of non-starters is stably sorted by
// combining class; the first character of each input character's decomposition replaces it
// (change 0), the others are inserted (+1).
void decompose_ordered(std::string_view s, const VersionTables& t, std::vector<Pending>& out) {
  out.clear();
  std::size_t run_start = 0;
  auto sort_run = [&]() {
    if (out.size() - run_start > 1) {
      std::stable_sort(out.begin() + static_cast<std::ptrdiff_t>(run_start), out.end(),
                       [](const Pending& a, const Pending& b) { return a.ccc < b.ccc; });
    }
  };
  std::size_t i = 0;
  while (i < s.size()) {
    const char32_t c = utf8::next(s, i);
    bool first = true;
    t.decompose(c, [&](char32_t d) {
      const std::uint8_t cc = t.ccc(d);
      if (cc == 0) {
        sort_run();
        run_start = out.size();
      }
      out.push_back({d, first ? 0 : 1, cc});
      first = false;
    });
  }
  sort_run();
}

}  // namespace

int latest_version() { return kUcdVersion; }

int combining_class(char32_t c, int version) { return tables(version).ccc(c); }

bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

bool is_normalized_quick(std::string_view s, Form form, int version) {
  const VersionTables& t = tables(version);
  const std::uint8_t mask = form == Form::kNFC ? kNfcUnstable : kNfdUnstable;
  std::size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    if (t.flags(utf8::next(s, i)) & mask) return false;
  }
  return true;
}

void normalize(std::string_view s, Form form, int version, std::vector<CharChange>& out) {
  const VersionTables& t = tables(version);
  thread_local std::vector<Pending> decomposed;
  decompose_ordered(s, t, decomposed);
  out.clear();
  out.reserve(decomposed.size());
  if (form == Form::kNFD) {
    for (const auto& p : decomposed) out.push_back({p.c, p.change});
    return;
  }
  // Canonical composition. `starter` is the index in `out` of the last starter that may still
  // compose; `last_ccc` the class of the last character kept after it (-1: none since it).
  long starter = -1;
  int last_ccc = -1;
  for (const auto& p : decomposed) {
    const int cc = p.ccc;
    if (starter >= 0) {
      const bool blocked = last_ccc >= 0 && last_ccc >= cc;
      if (!blocked) {
        const char32_t composite = t.compose(out[static_cast<std::size_t>(starter)].c, p.c);
        if (composite != 0) {
          auto& s0 = out[static_cast<std::size_t>(starter)];
          s0.c = composite;
          s0.change += p.change - 1;
          continue;
        }
      }
    }
    out.push_back({p.c, p.change});
    if (cc == 0) {
      starter = static_cast<long>(out.size()) - 1;
      last_ccc = -1;
    } else if (starter >= 0) {
      last_ccc = cc;
    }
  }
}

std::string normalize(std::string_view s, Form form, int version) {
  std::vector<CharChange> changes;
  normalize(s, form, version, changes);
  std::string out;
  out.reserve(s.size());
  for (const auto& c : changes) utf8::append(out, c.c);
  return out;
}

}  // namespace distill::tokenizer::unicode
