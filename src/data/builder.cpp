// Builder: documents -> (augmentation) -> batch encoding on every core -> length rule -> shards.
#include "builder.h"

#include <algorithm>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "distill/util/logging.h"
#include "progress.h"

namespace distill::data {
namespace {

constexpr std::size_t kBatchDocs = 4096;
constexpr std::size_t kBatchBytes = 8 << 20;
constexpr std::int64_t kLongWarnings = 3;

Json optional_id(const std::optional<tokenizer::TokenId>& id) { return id ? Json(*id) : Json(nullptr); }

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Reads batches of documents on a thread of its own, two batches ahead, so that reading and
// parsing overlap with encoding. Its errors surface in next(); destruction stops and joins it.
class ReadAhead {
 public:
  ReadAhead(const std::vector<InputFile>& files, const ReadOptions& options, SkipCounts* counts)
      : thread_([this, files, options, counts] { run(files, options, counts); }) {}
  ~ReadAhead() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  // The next batch (replacing `out`) and the input bytes read up to its end; false at the end.
  bool next(std::vector<Document>& out, std::uint64_t* bytes) {
    Item item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !queue_.empty(); });
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    cv_.notify_all();
    if (item.error) std::rethrow_exception(item.error);
    out = std::move(item.docs);
    *bytes = item.bytes;
    return !item.end;
  }

 private:
  struct Item {
    std::vector<Document> docs;
    std::uint64_t bytes = 0;
    bool end = false;
    std::exception_ptr error;
  };

  void run(std::vector<InputFile> files, ReadOptions options, SkipCounts* counts) {
    Item item;
    try {
      DocumentReader reader(std::move(files), std::move(options), counts);
      while (true) {
        item = Item();
        item.end = !reader.next_batch(item.docs, kBatchDocs, kBatchBytes);
        item.bytes = reader.bytes_read();
        if (!push(std::move(item))) return;  // stopped, or that was the end
      }
    } catch (...) {
      item = Item();
      item.end = true;
      item.error = std::current_exception();
      push(std::move(item));
    }
  }

  bool push(Item item) {
    const bool end = item.end;
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return stop_ || queue_.size() < kDepth; });
    if (stop_) return false;
    queue_.push_back(std::move(item));
    cv_.notify_all();
    return !end;
  }

  static constexpr std::size_t kDepth = 2;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool stop_ = false;
  std::thread thread_;  // last: started once the rest is ready
};

}  // namespace

// What decides the dataset's content: equal keys, equal datasets.
Json content_options(const BuildOptions& o) {
  Json j;
  j["text_field"] = o.read.text_field;
  j["label_field"] = o.read.label_field;
  j["txt_mode"] = o.read.paragraphs ? "paragraph" : "line";
  j["invalid_utf8"] = o.read.skip_invalid_utf8 ? "skip" : "repair";
  j["add_special_tokens"] = o.add_special_tokens;
  j["max_tokens"] = o.max_tokens;
  j["long_samples"] = o.cut_long ? "cut" : "split";
  j["keep_text"] = o.keep_text;
  j["shard_tokens"] = o.shard_tokens;
  j["augment"] = o.augment.command.empty()
                     ? Json(nullptr)
                     : Json{{"command", o.augment.command}, {"shell", o.augment.shell}};
  return j;
}

Json sources_json(const std::vector<InputFile>& files) {
  Json a = Json::array();
  for (const auto& f : files) {
    a.push_back({{"path", f.path}, {"format", format_name(f.format)}, {"size", f.size}, {"mtime_ns", f.mtime_ns}});
  }
  return a;
}

Builder::Builder(const tokenizer::Tokenizer& tok, const BuildOptions& o, const std::vector<InputFile>& files,
                 const std::string& dir)
    : tok_(tok), o_(o), files_(files), report_(o.max_tokens),
      writer_(dir, token_bytes_for_vocab(tok.vocab_size()), o.shard_tokens, o.keep_text) {
  per_source_.assign(files.size(), 0);
}

void Builder::run() {
  std::unique_ptr<Augmenter> augmenter;
  if (!o_.augment.command.empty()) augmenter = std::make_unique<Augmenter>(o_.augment);
  std::uint64_t total = 0;
  for (const auto& f : files_) total += static_cast<std::uint64_t>(f.size);
  Progress progress("tokenize", total, o_.progress_every_s);
  SkipCounts read_counts;  // the reader thread's; merged at the end
  {
    ReadAhead reader(files_, o_.read, &read_counts);
    std::vector<Document> batch;
    std::uint64_t bytes = 0;
    while (reader.next(batch, &bytes)) {
      if (augmenter) augment(*augmenter, batch);
      encode_and_write(batch);
      progress.update(bytes, documents_, tokens_);
    }
  }
  progress.done();
  counts_.merge(read_counts);
  if (augmenter) {
    augmenter->finish();
    log::info("data: augmentation by '{}': {} documents sent, {} answered from the cache, {} extra documents",
              augmenter->command_text(), augmenter->computed(), augmenter->cache_hits(), augmented_);
  }
  shards_ = writer_.finish();
}

Json Builder::meta(const std::string& build_key) const {
  Json m;
  m["format"] = kDatasetFormat;
  m["version"] = kDatasetVersion;
  m["build_key"] = build_key;
  m["created"] = now_utc();
  m["distill_version"] = DISTILL_VERSION;
  m["tokenizer"] = {{"fingerprint", tok_.fingerprint()}, {"kind", tok_.kind()},
                    {"source", tok_.source()},           {"vocab_size", tok_.vocab_size()},
                    {"bos", optional_id(tok_.special_tokens().bos)}, {"eos", optional_id(tok_.special_tokens().eos)},
                    {"pad", optional_id(tok_.special_tokens().pad)}};
  m["dtype"] = token_bytes_for_vocab(tok_.vocab_size()) == 2 ? "uint16" : "uint32";
  m["token_bytes"] = token_bytes_for_vocab(tok_.vocab_size());
  m["keep_text"] = o_.keep_text;
  m["options"] = content_options(o_);
  Json sources = sources_json(files_);
  for (std::size_t i = 0; i < files_.size(); ++i) sources[i]["documents"] = per_source_[i];
  m["sources"] = sources;
  Json shards = Json::array();
  for (const auto& s : shards_) {
    shards.push_back({{"name", s.name}, {"documents", s.documents}, {"tokens", s.tokens}, {"text_bytes", s.text_bytes}});
  }
  m["shards"] = shards;
  m["labels"] = labels_;
  Json skipped = Json::object();
  for (const auto& [reason, n] : counts_.skipped) skipped[reason] = n;
  m["counts"] = {{"documents", documents_},
                 {"tokens", tokens_},
                 {"input_documents", report_.documents() - augmented_},
                 {"augmented_documents", augmented_},
                 {"pretokenized_documents", pretokenized_},
                 {"over_limit_documents", report_.over_limit()},
                 {"split_pieces", split_pieces_},
                 {"cut_tokens", cut_tokens_},
                 {"repaired_utf8", counts_.repaired_utf8},
                 {"skipped", skipped}};
  m["report"] = report_.to_json();
  return m;
}

void Builder::augment(Augmenter& augmenter, std::vector<Document>& batch) {
  std::vector<std::string_view> texts;
  for (const auto& d : batch) {
    if (!d.pretokenized) texts.push_back(d.text);
  }
  const auto extra = augmenter.run(texts);
  std::vector<Document> out;
  std::vector<std::uint8_t> flags;
  std::size_t k = 0;
  for (auto& d : batch) {
    const bool has_extra = !d.pretokenized;
    const std::size_t idx = has_extra ? k++ : 0;
    out.push_back(std::move(d));
    if (!has_extra) continue;
    for (const auto& text : extra[idx]) {
      Document a;
      a.source = out.back().source;
      a.line = out.back().line;
      a.label = out.back().label;
      if (text.find_first_not_of(" \t\r\n\v\f") == std::string::npos) {
        counts_.add(skip::kEmpty, files_[a.source].path + ":" + std::to_string(a.line), "an augmented document");
        continue;
      }
      a.text = text;  // valid UTF-8: it came through a JSON parser
      augmented_flag_.insert(out.size());
      out.push_back(std::move(a));
    }
  }
  batch = std::move(out);
}

void Builder::encode_and_write(std::vector<Document>& batch) {
  std::vector<std::string_view> views;
  std::vector<std::size_t> which;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].pretokenized) continue;
    views.push_back(batch[i].text);
    which.push_back(i);
  }
  tokenizer::EncodeOptions eo;
  eo.add_special_tokens = o_.add_special_tokens;
  auto encodings = tok_.encode_batch(views, eo, o_.threads);
  std::vector<std::vector<std::int32_t>> ids(batch.size());
  for (std::size_t j = 0; j < which.size(); ++j) ids[which[j]] = std::move(encodings[j].ids);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    Document& d = batch[i];
    const bool augmented = augmented_flag_.count(i) > 0;
    const std::string where = files_[d.source].path + ":" + std::to_string(d.line);
    if (d.pretokenized) {
      const auto bad = std::find_if(d.input_ids.begin(), d.input_ids.end(), [&](std::int64_t id) {
        return id >= static_cast<std::int64_t>(tok_.vocab_size());
      });
      if (bad != d.input_ids.end()) {
        counts_.add(skip::kBadInputIds, where,
                    "id " + std::to_string(*bad) + " is outside the vocabulary of " + std::to_string(tok_.vocab_size()));
        continue;
      }
      ids[i].assign(d.input_ids.begin(), d.input_ids.end());
      ++pretokenized_;
    }
    if (ids[i].empty()) {
      counts_.add(skip::kEmpty, where, "no tokens");
      continue;
    }
    write(d, ids[i], augmented);
  }
  augmented_flag_.clear();
}

std::int32_t Builder::label_id(const std::optional<std::string>& label) {
  if (!label) return -1;
  const auto it = label_ids_.find(*label);
  if (it != label_ids_.end()) return it->second;
  const auto id = static_cast<std::int32_t>(labels_.size());
  labels_.push_back(*label);
  label_ids_[*label] = id;
  return id;
}

void Builder::write(const Document& d, const std::vector<std::int32_t>& ids, bool augmented) {
  const std::int64_t n = static_cast<std::int64_t>(ids.size());
  report_.add(n, d.label, !o_.read.label_field.empty());
  if (augmented) ++augmented_;
  DocumentRecord r;
  r.source = d.source;
  r.label = label_id(d.label);
  r.flags = static_cast<std::uint8_t>((augmented ? kFlagAugmented : 0) | (d.pretokenized ? kFlagPretokenized : 0));
  const std::int64_t limit = o_.max_tokens;
  if (limit <= 0 || n <= limit) {
    emit(r, ids.data(), ids.size(), d.text.data(), d.text.size());
    return;
  }
  // Over the limit: pieces of `limit` tokens (or the first only). A piece's text runs from its
  // first token's offset to the next piece's first token's offset (docs/data.md).
  if (report_.over_limit() <= kLongWarnings) {
    log::warn("data: {}:{}: {} tokens, over the limit of {}; {}{}", files_[d.source].path, d.line, n, limit,
              o_.cut_long ? "cut" : "split",
              report_.over_limit() == kLongWarnings ? " (further ones are only counted)" : "");
  }
  std::vector<tokenizer::Offset> offsets;
  if (o_.keep_text && !d.pretokenized) {
    tokenizer::EncodeOptions eo;
    eo.add_special_tokens = o_.add_special_tokens;
    eo.offsets = true;
    offsets = tok_.encode(d.text, eo).offsets;
  }
  auto begin_of = [&](std::int64_t t) -> std::size_t {
    if (offsets.empty()) return 0;
    if (t >= n) return d.text.size();
    const auto& off = offsets[static_cast<std::size_t>(t)];
    if (t > 0 && off.begin == 0 && off.end == 0) return d.text.size();  // a token the post-processor added
    return off.begin;
  };
  const std::int64_t pieces = o_.cut_long ? 1 : (n + limit - 1) / limit;
  std::size_t text_begin = 0;
  for (std::int64_t p = 0; p < pieces; ++p) {
    const std::int64_t b = p * limit, e = std::min(n, b + limit);
    const std::size_t text_end = std::max(text_begin, (p + 1 == pieces && !o_.cut_long) ? d.text.size() : begin_of(e));
    DocumentRecord piece = r;
    if (p > 0) piece.flags |= kFlagContinuation;
    emit(piece, ids.data() + b, static_cast<std::size_t>(e - b), d.text.data() + text_begin,
         offsets.empty() ? 0 : text_end - text_begin);
    text_begin = text_end;
  }
  if (o_.cut_long) cut_tokens_ += n - limit;
  else split_pieces_ += pieces;
}

void Builder::emit(DocumentRecord r, const std::int32_t* ids, std::size_t n, const char* text, std::size_t text_bytes) {
  r.ids = ids;
  r.num_ids = n;
  r.text = text;
  r.text_bytes = text_bytes;
  writer_.add(r);
  ++documents_;
  tokens_ += static_cast<std::int64_t>(n);
  ++per_source_[r.source];
}

void log_summary(const Builder& b, const BuildOptions& o, double seconds, const std::string& dir) {
  if (b.report().over_limit() > 0) {
    if (o.cut_long) {
      log::warn("data: {} documents over the limit of {} tokens were cut ({} tokens dropped; data.long_samples = cut)",
                b.report().over_limit(), o.max_tokens, b.cut_tokens());
    } else {
      log::warn("data: {} documents over the limit of {} tokens were split into {} pieces (data.long_samples = split)",
                b.report().over_limit(), o.max_tokens, b.split_pieces());
    }
  }
  for (const auto& w : b.report().warnings()) log::warn("data: {}", w);
  log::info("data: {} documents kept; {}; {} repaired (invalid UTF-8 -> U+FFFD)", b.documents(), b.counts().summary(),
            b.counts().repaired_utf8);
  log::info("data: wrote {} in {:.1f} s", dir, seconds);
}

}  // namespace distill::data
