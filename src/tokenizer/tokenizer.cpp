// Tokenizer methods shared by every backend: ids-only encode and multi-threaded batch encode.
#include "distill/tokenizer/tokenizer.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

namespace distill::tokenizer {

std::vector<TokenId> Tokenizer::encode_ids(std::string_view text, bool add_special_tokens) const {
  EncodeOptions options;
  options.add_special_tokens = add_special_tokens;
  return encode(text, options).ids;
}

std::vector<Encoding> Tokenizer::encode_batch(const std::vector<std::string_view>& texts, const EncodeOptions& options,
                                              unsigned threads) const {
  std::vector<Encoding> out(texts.size());
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, texts.size()));
  if (threads <= 1) {
    for (std::size_t i = 0; i < texts.size(); ++i) out[i] = encode(texts[i], options);
    return out;
  }
  // Work stealing in small chunks: texts vary a lot in length.
  constexpr std::size_t kChunk = 16;
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mu;
  auto worker = [&]() {
    try {
      for (;;) {
        const std::size_t begin = next.fetch_add(kChunk);
        if (begin >= texts.size()) return;
        const std::size_t end = std::min(begin + kChunk, texts.size());
        for (std::size_t i = begin; i < end; ++i) out[i] = encode(texts[i], options);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (!error) error = std::current_exception();
      next = texts.size();
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  return out;
}

bool Tokenizer::is_special(TokenId id) const {
  for (const auto& t : added_) {
    if (t.id == id && t.special) return true;
  }
  return false;
}

}  // namespace distill::tokenizer
