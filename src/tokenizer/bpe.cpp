// BPE merge loop (min-heap over (rank, position) on a linked list of symbols) and per-thread word cache.
#include "distill/tokenizer/bpe.h"

#include <algorithm>
#include <atomic>
#include <cstdio>

#include "distill/tokenizer/byte_level.h"
#include "distill/tokenizer/utf8.h"

namespace distill::tokenizer {
namespace {

std::atomic<std::uint64_t> g_next_uid{1};

constexpr std::size_t kMaxCachedWordBytes = 256;   // as HF: longer words are merged every time
constexpr std::size_t kMaxCacheWords = 1 << 17;    // per model per thread; the cache restarts when full
constexpr std::size_t kMaxCachedModels = 8;        // per thread

std::uint64_t pair_key(TokenId a, TokenId b) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
}

struct Symbol {
  TokenId id;
  std::int32_t prev, next;
  std::uint32_t start, len;  // bytes of the word; len 0: merged into its left neighbour
};

struct Candidate {
  std::uint32_t rank;
  std::uint32_t pos;
  TokenId id;
};

// Orders a std heap so that the top is the lowest rank, then the leftmost position.
struct LaterCandidate {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  }
};

// Merge results of recent words: word bytes -> offset of [count, id0, len0, id1, len1, ...] in data.
struct WordCache {
  StringMap index;
  std::vector<std::uint32_t> data;
};

WordCache& thread_cache(std::uint64_t uid) {
  thread_local std::vector<std::pair<std::uint64_t, std::unique_ptr<WordCache>>> caches;
  for (auto& [id, cache] : caches) {
    if (id == uid) return *cache;
  }
  if (caches.size() >= kMaxCachedModels) caches.erase(caches.begin());
  caches.emplace_back(uid, std::make_unique<WordCache>());
  return *caches.back().second;
}

}  // namespace

BpeModel::~BpeModel() = default;

std::unique_ptr<BpeModel> BpeModel::from_merges(const std::vector<std::pair<std::string, TokenId>>& vocab,
                                                const std::vector<std::pair<std::string, std::string>>& merges,
                                                BpeConfig config) {
  std::unique_ptr<BpeModel> m(new BpeModel());
  m->config_ = std::move(config);
  m->uid_ = g_next_uid++;
  if (m->config_.byte_level && (!m->config_.continuing_subword_prefix.empty() || !m->config_.end_of_word_suffix.empty())) {
    throw BpeError("continuing_subword_prefix/end_of_word_suffix are not supported with a byte-level vocabulary");
  }
  TokenId max_id = -1;
  for (const auto& [token, id] : vocab) {
    if (id < 0) throw BpeError("token '" + token + "' has a negative id");
    max_id = std::max(max_id, id);
  }
  m->id_to_token_.resize(static_cast<std::size_t>(max_id + 1));
  m->vocab_size_ = vocab.size();
  std::string raw;
  for (const auto& [token, id] : vocab) {
    m->by_token_.set(token, static_cast<std::uint32_t>(id));
    m->id_to_token_[static_cast<std::size_t>(id)] = token;
    if (m->config_.byte_level && byte_level::to_bytes(token, raw)) m->lookup_.set(raw, static_cast<std::uint32_t>(id));
  }
  if (m->config_.byte_level) {
    m->byte_ids_.assign(256, -1);
    for (int b = 0; b < 256; ++b) {
      const std::uint32_t id = m->lookup_.find(std::string(1, static_cast<char>(b)));
      if (id != StringMap::kMissing) m->byte_ids_[static_cast<std::size_t>(b)] = static_cast<TokenId>(id);
    }
  }
  if (m->config_.byte_fallback) {
    m->byte_fallback_ids_.assign(256, -1);
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      const std::uint32_t id = m->by_token_.find(name);
      if (id != StringMap::kMissing) m->byte_fallback_ids_[static_cast<std::size_t>(b)] = static_cast<TokenId>(id);
    }
  }
  if (m->config_.unk_token) {
    const std::uint32_t id = m->by_token_.find(*m->config_.unk_token);
    if (id == StringMap::kMissing) throw BpeError("unk_token '" + *m->config_.unk_token + "' is not in the vocabulary");
    m->unk_id_ = static_cast<TokenId>(id);
  }
  // Enable cutting words before "▁" when the vocabulary guarantees it changes nothing.
  const std::string kMarker = "\xE2\x96\x81";
  if (!m->config_.byte_level && !m->config_.ignore_merges && m->config_.continuing_subword_prefix.empty() &&
      m->config_.end_of_word_suffix.empty()) {
    bool starts = false, inside = false;
    for (const auto& [token, id] : vocab) {
      starts = starts || token.compare(0, kMarker.size(), kMarker) == 0;
      // A marker preceded by anything but markers.
      std::size_t at = token.find(kMarker);
      while (at != std::string::npos && !inside) {
        std::size_t run_start = at;
        while (run_start >= kMarker.size() && token.compare(run_start - kMarker.size(), kMarker.size(), kMarker) == 0) {
          run_start -= kMarker.size();
        }
        inside = run_start != 0;
        at = token.find(kMarker, at + kMarker.size());
      }
    }
    if (starts && !inside) m->word_boundary_ = kMarker;
  }
  const std::size_t prefix_len = m->config_.continuing_subword_prefix.size();
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    auto where = [&]() { return "merge #" + std::to_string(rank + 1) + " ('" + a + "' '" + b + "')"; };
    const std::uint32_t a_id = m->by_token_.find(a);
    if (a_id == StringMap::kMissing) throw BpeError(where() + " refers to '" + a + "', which is not in the vocabulary");
    const std::uint32_t b_id = m->by_token_.find(b);
    if (b_id == StringMap::kMissing) throw BpeError(where() + " refers to '" + b + "', which is not in the vocabulary");
    if (b.size() < prefix_len) throw BpeError(where() + " has a right part shorter than continuing_subword_prefix");
    const std::string merged = a + b.substr(prefix_len);
    const std::uint32_t new_id = m->by_token_.find(merged);
    if (new_id == StringMap::kMissing) {
      throw BpeError(where() + " makes '" + merged + "', which is not in the vocabulary");
    }
    m->merges_.set(pair_key(static_cast<TokenId>(a_id), static_cast<TokenId>(b_id)),
                   MergeTarget{static_cast<std::uint32_t>(rank), static_cast<TokenId>(new_id)});
  }
  return m;
}

std::unique_ptr<BpeModel> BpeModel::from_ranks(const std::vector<std::pair<std::string, TokenId>>& ranks) {
  std::unique_ptr<BpeModel> m(new BpeModel());
  m->tiktoken_ = true;
  m->uid_ = g_next_uid++;
  TokenId max_id = -1;
  for (const auto& [bytes, rank] : ranks) {
    if (rank < 0) throw BpeError("negative rank");
    max_id = std::max(max_id, rank);
  }
  m->id_to_token_.resize(static_cast<std::size_t>(max_id + 1));
  m->vocab_size_ = ranks.size();
  for (const auto& [bytes, rank] : ranks) {
    if (m->lookup_.find(bytes) != StringMap::kMissing) throw BpeError("token bytes listed twice (rank " + std::to_string(rank) + ")");
    m->lookup_.set(bytes, static_cast<std::uint32_t>(rank));
    if (m->id_to_token_[static_cast<std::size_t>(rank)]) throw BpeError("rank " + std::to_string(rank) + " is used twice");
    m->id_to_token_[static_cast<std::size_t>(rank)] = bytes;
  }
  m->byte_ids_.assign(256, -1);
  for (int b = 0; b < 256; ++b) {
    const std::uint32_t id = m->lookup_.find(std::string(1, static_cast<char>(b)));
    if (id == StringMap::kMissing) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", b);
      throw BpeError(std::string("the single byte ") + hex + " has no rank");
    }
    m->byte_ids_[static_cast<std::size_t>(b)] = static_cast<TokenId>(id);
  }
  return m;
}

std::optional<std::string> BpeModel::id_to_token(TokenId id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= id_to_token_.size()) return std::nullopt;
  return id_to_token_[static_cast<std::size_t>(id)];
}

std::optional<TokenId> BpeModel::token_to_id(std::string_view token) const {
  const std::uint32_t id = tiktoken_ ? lookup_.find(token) : by_token_.find(token);
  if (id == StringMap::kMissing) return std::nullopt;
  return static_cast<TokenId>(id);
}

std::optional<std::string> BpeModel::id_to_bytes(TokenId id) const {
  auto token = id_to_token(id);
  if (!token || tiktoken_ || !config_.byte_level) return token;
  std::string raw;
  if (!byte_level::to_bytes(*token, raw)) return token;
  return raw;
}

void BpeModel::tokenize(std::string_view word, std::vector<TokenId>& ids, std::vector<std::uint32_t>* lengths) const {
  if (word.empty()) return;
  if (word_boundary_.empty()) {
    tokenize_chunk(word, ids, lengths);
    return;
  }
  // Cut before each run of markers that follows another character.
  const std::string_view marker = word_boundary_;
  std::size_t start = 0;
  for (std::size_t at = word.find(marker, 1); at != std::string_view::npos; at = word.find(marker, at + marker.size())) {
    const bool after_marker = at >= marker.size() && word.compare(at - marker.size(), marker.size(), marker) == 0;
    if (!after_marker && at > start) {
      tokenize_chunk(word.substr(start, at - start), ids, lengths);
      start = at;
    }
  }
  tokenize_chunk(word.substr(start), ids, lengths);
}

void BpeModel::tokenize_chunk(std::string_view word, std::vector<TokenId>& ids,
                              std::vector<std::uint32_t>* lengths) const {
  if (word.empty()) return;
  if (tiktoken_ || config_.ignore_merges) {
    const std::uint32_t id = config_.byte_level || tiktoken_ ? lookup_.find(word) : by_token_.find(word);
    if (id != StringMap::kMissing) {
      ids.push_back(static_cast<TokenId>(id));
      if (lengths) lengths->push_back(static_cast<std::uint32_t>(word.size()));
      return;
    }
  }
  thread_local std::vector<TokenId> word_ids;
  thread_local std::vector<std::uint32_t> word_lengths;
  const bool cacheable = word.size() < kMaxCachedWordBytes;
  WordCache* cache = cacheable ? &thread_cache(uid_) : nullptr;
  if (cache) {
    const std::uint32_t at = cache->index.find(word);
    if (at != StringMap::kMissing) {
      const std::uint32_t n = cache->data[at];
      for (std::uint32_t k = 0; k < n; ++k) {
        ids.push_back(static_cast<TokenId>(cache->data[at + 1 + 2 * k]));
        if (lengths) lengths->push_back(cache->data[at + 2 + 2 * k]);
      }
      return;
    }
  }
  word_ids.clear();
  word_lengths.clear();
  merge_word(word, word_ids, word_lengths);
  ids.insert(ids.end(), word_ids.begin(), word_ids.end());
  if (lengths) lengths->insert(lengths->end(), word_lengths.begin(), word_lengths.end());
  if (cache) {
    if (cache->index.size() >= kMaxCacheWords) {
      cache->index.clear();
      cache->data.clear();
    }
    const auto at = static_cast<std::uint32_t>(cache->data.size());
    cache->data.push_back(static_cast<std::uint32_t>(word_ids.size()));
    for (std::size_t k = 0; k < word_ids.size(); ++k) {
      cache->data.push_back(static_cast<std::uint32_t>(word_ids[k]));
      cache->data.push_back(word_lengths[k]);
    }
    cache->index.set(word, at);
  }
}

void BpeModel::merge_word(std::string_view word, std::vector<TokenId>& out_ids,
                          std::vector<std::uint32_t>& out_lengths) const {
  thread_local std::vector<Symbol> sym;
  thread_local std::vector<Candidate> heap;
  sym.clear();
  heap.clear();
  std::uint32_t pos = 0;  // byte position in word
  auto add = [&](TokenId id, std::uint32_t len) {
    const auto n = static_cast<std::int32_t>(sym.size());
    if (n > 0) sym.back().next = n;
    sym.push_back({id, n - 1, -1, pos, len});
    pos += len;
  };

  // ---- initial symbols: bytes (byte-level, tiktoken) or characters, with fallbacks for unknowns
  if (tiktoken_ || config_.byte_level) {
    for (std::size_t i = 0; i < word.size(); ++i) {
      const TokenId id = byte_ids_[static_cast<unsigned char>(word[i])];
      if (id >= 0) {
        add(id, 1);
      } else if (unk_id_ >= 0) {
        if (config_.fuse_unk && !sym.empty() && sym.back().id == unk_id_ && sym.back().start + sym.back().len == pos) {
          sym.back().len += 1;
          pos += 1;
        } else {
          add(unk_id_, 1);
        }
      }
    }
  } else {
    // HF's merge_word: a pending <unk> is only written out when the next known character comes
    // (byte-fallback tokens do not flush it), so fused unknowns cover every byte they stand for.
    std::string unit;
    bool pending_unk = false;
    std::uint32_t pending_len = 0;
    std::size_t i = 0;
    while (i < word.size()) {
      const std::size_t begin = i;
      i += utf8::sequence_length(static_cast<unsigned char>(word[i]));
      if (i > word.size()) i = word.size();
      const auto len = static_cast<std::uint32_t>(i - begin);
      unit.clear();
      if (begin > 0) unit += config_.continuing_subword_prefix;
      unit.append(word.data() + begin, len);
      if (i == word.size()) unit += config_.end_of_word_suffix;
      const std::uint32_t id = by_token_.find(unit);
      if (id != StringMap::kMissing) {
        if (pending_unk) {
          add(unk_id_, pending_len);
          pending_unk = false;
        }
        add(static_cast<TokenId>(id), len);
        continue;
      }
      if (config_.byte_fallback) {
        bool all = true;
        for (char b : unit) all = all && byte_fallback_ids_[static_cast<unsigned char>(b)] >= 0;
        if (all) {
          for (char b : unit) add(byte_fallback_ids_[static_cast<unsigned char>(b)], 1);
          continue;
        }
      }
      if (unk_id_ >= 0) {
        if (pending_unk && config_.fuse_unk) {
          pending_len += len;
        } else {
          if (pending_unk) add(unk_id_, pending_len);
          pending_unk = true;
          pending_len = len;
        }
      }
    }
    if (pending_unk) add(unk_id_, pending_len);
  }

  // ---- merges, lowest rank first, leftmost among equal ranks
  auto rank_of = [&](std::int32_t left, std::int32_t right, Candidate& c) -> bool {
    const Symbol& l = sym[static_cast<std::size_t>(left)];
    const Symbol& r = sym[static_cast<std::size_t>(right)];
    if (tiktoken_) {
      const std::uint32_t id = lookup_.find(word.substr(l.start, l.len + r.len));
      if (id == StringMap::kMissing) return false;
      c = {id, static_cast<std::uint32_t>(left), static_cast<TokenId>(id)};
      return true;
    }
    const MergeTarget* t = merges_.find(pair_key(l.id, r.id));
    if (!t) return false;
    c = {t->rank, static_cast<std::uint32_t>(left), t->id};
    return true;
  };
  const LaterCandidate later;
  Candidate c{};
  for (std::size_t k = 0; k + 1 < sym.size(); ++k) {
    if (rank_of(static_cast<std::int32_t>(k), static_cast<std::int32_t>(k + 1), c)) heap.push_back(c);
  }
  std::make_heap(heap.begin(), heap.end(), later);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Candidate top = heap.back();
    heap.pop_back();
    Symbol& s = sym[top.pos];
    if (s.len == 0 || s.next < 0) continue;
    // Skip stale entries: the pair at this position changed since it was queued.
    if (!rank_of(static_cast<std::int32_t>(top.pos), s.next, c) || c.id != top.id || c.rank != top.rank) continue;
    Symbol& right = sym[static_cast<std::size_t>(s.next)];
    s.id = top.id;
    s.len += right.len;
    s.next = right.next;
    right.len = 0;
    if (s.next >= 0) sym[static_cast<std::size_t>(s.next)].prev = static_cast<std::int32_t>(top.pos);
    if (s.prev >= 0 && rank_of(s.prev, static_cast<std::int32_t>(top.pos), c)) {
      heap.push_back(c);
      std::push_heap(heap.begin(), heap.end(), later);
    }
    if (s.next >= 0 && rank_of(static_cast<std::int32_t>(top.pos), s.next, c)) {
      heap.push_back(c);
      std::push_heap(heap.begin(), heap.end(), later);
    }
  }
  for (std::int32_t k = sym.empty() ? -1 : 0; k >= 0; k = sym[static_cast<std::size_t>(k)].next) {
    out_ids.push_back(sym[static_cast<std::size_t>(k)].id);
    out_lengths.push_back(sym[static_cast<std::size_t>(k)].len);
  }
}

}  // namespace distill::tokenizer
