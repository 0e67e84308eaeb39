// Loader: sample enumeration (packed stream or padded documents), per-epoch permutation, batching
// on a prefetch thread, and the resumable position.
#include "distill/data/loader.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "distill/data/permutation.h"
#include "distill/util/errors.h"
#include "distill/util/logging.h"

namespace distill::data {
namespace {

using Json = nlohmann::ordered_json;
constexpr std::int64_t kIgnore = -100;
constexpr int kPositionVersion = 1;

// Where the loader stands: the next position in epoch `epoch`'s order that this rank takes.
struct Cursor {
  std::int64_t epoch = 0;
  std::int64_t next = 0;
  std::int64_t consumed = 0;  // samples this rank has taken since the start (informational)
};

struct Item {
  std::optional<Batch> batch;
  Cursor after;
  std::exception_ptr error;
};

}  // namespace

struct Loader::Impl {
  Corpus corpus;
  LoaderOptions o;
  std::int64_t T = 0;
  std::int64_t sep = 0;          // 1 when documents are followed by EOS
  std::int64_t eos = 0, pad = 0;
  std::int64_t stream_tokens = 0;  // packing: tokens + documents * sep
  std::int64_t num_samples = 0;
  // Padding: documents giving more than one sample (ascending), the index of their first sample,
  // and how many they give.
  std::vector<std::int64_t> long_docs, long_first, long_count;

  Cursor consumer;  // what position() reports
  bool ended = false;

  // Prefetch state.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Item> queue;
  Cursor producer;
  bool stop = false;
  std::thread thread;
  std::exception_ptr error;

  Impl(Corpus c, LoaderOptions opts) : corpus(std::move(c)), o(opts), T(opts.seq_len) {
    if (o.seq_len < 1) throw UsageError("loader: seq_len must be >= 1, got " + std::to_string(o.seq_len));
    if (o.micro_batch < 1) throw UsageError("loader: micro_batch must be >= 1, got " + std::to_string(o.micro_batch));
    if (o.world_size < 1 || o.rank < 0 || o.rank >= o.world_size) {
      throw UsageError("loader: rank " + std::to_string(o.rank) + " of world size " + std::to_string(o.world_size));
    }
    if (o.prefetch < 0) throw UsageError("loader: prefetch must be >= 0");
    if (corpus.empty()) throw InputError("", "the data holds no documents", "check data.train / data.valid");
    if (corpus.eos()) {
      sep = 1;
      eos = *corpus.eos();
    } else {
      log::warn("data: the tokenizer has no EOS token: documents are joined without a separator");
    }
    pad = corpus.pad() ? *corpus.pad() : eos;
    if (o.packing) {
      stream_tokens = corpus.num_tokens() + corpus.num_documents() * sep;
      const std::int64_t predictions = std::max<std::int64_t>(stream_tokens - 1, 0);
      num_samples = o.repeat ? predictions / T : (predictions + T - 1) / T;
      if (num_samples == 0) {
        throw InputError("", "the data holds " + std::to_string(stream_tokens) + " tokens (with separators), fewer than "
                                 "one packed sequence of seq_len + 1 = " + std::to_string(T + 1),
                         "add data, or lower data.seq_len");
      }
    } else {
      std::int64_t extra = 0;
      for (std::int64_t d = 0; d < corpus.num_documents(); ++d) {
        const std::int64_t count = windows(corpus.length(d) + sep);
        if (count > 1) {
          long_docs.push_back(d);
          long_first.push_back(d + extra);
          long_count.push_back(count);
          extra += count - 1;
        }
      }
      num_samples = corpus.num_documents() + extra;
    }
    if (o.repeat && o.rank >= num_samples) {
      throw InputError("", "rank " + std::to_string(o.rank) + " gets no sample: the data gives " +
                               std::to_string(num_samples) + " samples for " + std::to_string(o.world_size) + " ranks");
    }
    consumer.next = o.rank;
  }

  ~Impl() { stop_thread(); }

  // Samples a padded document of m tokens (EOS included) gives.
  std::int64_t windows(std::int64_t m) const {
    if (m <= T + 1 || !o.split_long) return 1;
    return (m - 1 + T - 1) / T;
  }

  // Padding: sample -> (document, window).
  std::pair<std::int64_t, std::int64_t> padded_sample(std::int64_t s) const {
    const auto it = std::upper_bound(long_first.begin(), long_first.end(), s);
    if (it == long_first.begin()) return {s, 0};
    const std::size_t j = static_cast<std::size_t>(it - long_first.begin() - 1);
    if (s < long_first[j] + long_count[j]) return {long_docs[j], s - long_first[j]};
    return {long_docs[j] + (s - long_first[j] - long_count[j]) + 1, 0};
  }

  // The T + 1 token window of sample s into w; returns its length.
  std::int64_t fill(std::int64_t s, std::int64_t* w, std::vector<Span>& spans) const {
    if (o.packing) {
      const std::int64_t start = s * T;
      const std::int64_t len = std::min(start + T + 1, stream_tokens) - start;
      std::int64_t d = corpus.document_at_stream(start, sep);
      std::int64_t pos = start - (corpus.tokens_before(d) + d * sep);
      std::int64_t col = 0;
      while (col < len) {
        const std::int64_t n = corpus.length(d);
        if (pos < n) {
          const std::int64_t take = std::min(n - pos, len - col);
          corpus.copy_tokens(d, pos, pos + take, w + col);
          spans.push_back({col, d, pos, pos + take});
          col += take;
          pos += take;
          continue;
        }
        if (sep) w[col++] = eos;
        ++d;
        pos = 0;
      }
      return len;
    }
    const auto [d, k] = padded_sample(s);
    const std::int64_t n = corpus.length(d);
    const std::int64_t m = n + sep;
    const std::int64_t begin = k * T, end = std::min(begin + T + 1, m);
    const std::int64_t token_end = std::min(end, n);
    corpus.copy_tokens(d, begin, token_end, w);
    spans.push_back({0, d, begin, token_end});
    if (end > n) w[end - 1 - begin] = eos;
    return end - begin;
  }

  // The permutation of one epoch, rebuilt when the epoch changes (cheap: a few hashes).
  struct Order {
    std::int64_t epoch = -1;
    std::optional<Permutation> perm;
  };

  // The next sample of cursor c (advancing it); false at the end of a non-repeating pass.
  bool take(Cursor& c, std::int64_t* sample, std::int64_t* epoch, Order& order) const {
    if (c.next >= num_samples) {
      if (!o.repeat) return false;
      ++c.epoch;
      c.next = o.rank;
    }
    if (order.epoch != c.epoch) {
      order.perm.emplace(static_cast<std::uint64_t>(num_samples), static_cast<std::uint64_t>(o.seed),
                         static_cast<std::uint64_t>(c.epoch), o.shuffle);
      order.epoch = c.epoch;
    }
    *sample = static_cast<std::int64_t>((*order.perm)(static_cast<std::uint64_t>(c.next)));
    *epoch = c.epoch;
    c.next += o.world_size;
    ++c.consumed;
    return true;
  }

  std::optional<Batch> make_batch(Cursor& c) const {
    std::vector<std::int64_t> samples, epochs;
    Order order;
    for (std::int64_t r = 0; r < o.micro_batch; ++r) {
      std::int64_t s, e;
      if (!take(c, &s, &e, order)) break;
      samples.push_back(s);
      epochs.push_back(e);
    }
    if (samples.empty()) return std::nullopt;
    const std::int64_t rows = static_cast<std::int64_t>(samples.size());
    bool pin = false;
#ifdef DISTILL_WITH_CUDA
    pin = o.pin_memory && at::globalContext().hasCUDA();
#endif
    const auto opts = at::TensorOptions().dtype(at::kLong).pinned_memory(pin);
    Batch b;
    b.epoch = epochs.front();
    b.input_ids = at::empty({rows, T}, opts);
    b.labels = at::empty({rows, T}, opts);
    at::Tensor mask = at::empty({rows, T}, opts);
    std::int64_t* in = b.input_ids.data_ptr<std::int64_t>();
    std::int64_t* lab = b.labels.data_ptr<std::int64_t>();
    std::int64_t* m = mask.data_ptr<std::int64_t>();
    std::vector<std::int64_t> w(static_cast<std::size_t>(T + 1));
    bool padded = false;
    b.spans.resize(static_cast<std::size_t>(rows));
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t len = fill(samples[static_cast<std::size_t>(r)], w.data(), b.spans[static_cast<std::size_t>(r)]);
      const std::int64_t real = std::max<std::int64_t>(len - 1, 0);  // positions with a next token
      for (std::int64_t t = 0; t < T; ++t) {
        const bool on = t < real;
        in[r * T + t] = on ? w[static_cast<std::size_t>(t)] : pad;
        lab[r * T + t] = on ? w[static_cast<std::size_t>(t + 1)] : kIgnore;
        m[r * T + t] = on ? 1 : 0;
      }
      if (real < T) padded = true;
    }
    if (padded) b.attention_mask = mask;
    return b;
  }

  void run() {
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      cv.wait(lock, [&] { return stop || static_cast<std::int64_t>(queue.size()) < o.prefetch; });
      if (stop) return;
      Cursor c = producer;
      lock.unlock();
      Item item;
      try {
        item.batch = make_batch(c);
      } catch (...) {
        item.error = std::current_exception();
      }
      lock.lock();
      if (stop) return;
      const bool last = !item.batch || item.error;
      item.after = c;
      producer = c;
      queue.push_back(std::move(item));
      cv.notify_all();
      if (last) return;
    }
  }

  void start_thread() {
    if (thread.joinable()) return;
    stop = false;
    producer = consumer;
    thread = std::thread([this] { run(); });
  }

  void stop_thread() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    cv.notify_all();
    if (thread.joinable()) thread.join();
    queue.clear();
  }

  std::optional<Batch> next() {
    if (error) std::rethrow_exception(error);
    if (ended) return std::nullopt;
    if (o.prefetch == 0) {
      auto b = make_batch(consumer);
      if (!b) ended = true;
      return b;
    }
    start_thread();
    Item item;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return !queue.empty(); });
      item = std::move(queue.front());
      queue.pop_front();
    }
    cv.notify_all();
    if (item.error) {
      error = item.error;
      std::rethrow_exception(error);
    }
    if (!item.batch) {
      ended = true;
      return std::nullopt;
    }
    consumer = item.after;
    return std::move(item.batch);
  }

  Json position() const {
    Json p = Json::object();
    p["version"] = kPositionVersion;
    p["epoch"] = consumer.epoch;
    p["next"] = consumer.next;
    p["consumed"] = consumer.consumed;
    p["samples_per_epoch"] = num_samples;
    p["seq_len"] = T;
    p["packing"] = o.packing;
    p["shuffle"] = o.shuffle;
    p["seed"] = o.seed;
    p["rank"] = o.rank;
    p["world_size"] = o.world_size;
    p["corpus"] = corpus.identity();
    return p;
  }

  void seek(const Json& p) {
    stop_thread();
    error = nullptr;
    ended = false;
    Cursor c;
    c.next = o.rank;
    if (!p.is_null() && !(p.is_object() && p.empty())) {
      auto integer = [&](const char* key) -> std::int64_t {
        if (!p.is_object() || !p.contains(key) || !p[key].is_number_integer() || p[key].get<std::int64_t>() < 0) {
          throw InputError("data position", std::string("missing or invalid \"") + key + "\" in " + p.dump(),
                           "the checkpoint's data_position is damaged; start the run fresh or from another checkpoint");
        }
        return p[key].get<std::int64_t>();
      };
      if (integer("version") != kPositionVersion) {
        throw InputError("data position", "version " + p["version"].dump() + ", this distill reads " +
                                              std::to_string(kPositionVersion));
      }
      c.epoch = integer("epoch");
      c.next = integer("next");
      c.consumed = integer("consumed");
      const Json now = position();
      std::vector<std::string> changed;
      for (const char* key : {"corpus", "samples_per_epoch", "seq_len", "packing", "shuffle", "seed", "world_size"}) {
        if (p.value(key, Json()) != now[key]) changed.push_back(std::string(key) + " " + p.value(key, Json()).dump() +
                                                               " -> " + now[key].dump());
      }
      if (!changed.empty()) {
        std::string list;
        for (const auto& s : changed) list += (list.empty() ? "" : ", ") + s;
        log::warn("data: the saved data position was made for other data or options ({}); continuing at epoch {}, "
                  "sample {} of the new order, which is not exactly where the interrupted run stopped",
                  list, c.epoch, c.next);
      }
      // Keep the cursor on this rank's stride and inside the epoch.
      if (c.next < o.rank) c.next = o.rank;
      const std::int64_t off = (c.next - o.rank) % o.world_size;
      if (off) c.next += o.world_size - off;
      if (c.next >= num_samples && o.repeat) {
        ++c.epoch;
        c.next = o.rank;
      }
    }
    consumer = c;
  }
};

Loader::Loader(Corpus corpus, LoaderOptions options) : impl_(std::make_unique<Impl>(std::move(corpus), options)) {}
Loader::~Loader() = default;
std::optional<Batch> Loader::next() { return impl_->next(); }
nlohmann::ordered_json Loader::position() const { return impl_->position(); }
void Loader::seek(const nlohmann::ordered_json& position) { impl_->seek(position); }
std::int64_t Loader::samples_per_epoch() const { return impl_->num_samples; }
const Corpus& Loader::corpus() const { return impl_->corpus; }
const LoaderOptions& Loader::options() const { return impl_->o; }

}  // namespace distill::data
