// ShardWriter: tokens, text and index files of a tokenized dataset, buffered, headers written last.
#include "distill/data/shards.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "distill/util/errors.h"
#include "distill/util/files.h"

namespace distill::data {

static_assert(sizeof(std::uint64_t) == 8 && sizeof(std::int32_t) == 4, "fixed-width layout");

// One output file: a header slot, then buffered payload writes; close() writes the header, fsyncs.
class ShardWriter::File {
 public:
  File(std::string path, const char* magic, std::uint32_t element_size)
      : path_(std::move(path)), element_size_(element_size) {
    std::memcpy(magic_, magic, 8);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw OutputError(path_, "cannot create: " + errno_text(errno));
    buffer_.reserve(kBuffer);
    buffer_.resize(kHeaderBytes, 0);  // the header is rewritten in place by close()
  }
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }

  void write(const void* data, std::size_t n) {
    const auto* p = static_cast<const std::uint8_t*>(data);
    if (buffer_.size() + n > kBuffer) flush();
    if (n >= kBuffer) {
      raw_write(p, n);
      return;
    }
    buffer_.insert(buffer_.end(), p, p + n);
  }

  void close(std::uint64_t count) {
    flush();
    std::uint8_t header[kHeaderBytes] = {};
    std::memcpy(header, magic_, 8);
    std::memcpy(header + 8, &kShardVersion, 4);
    std::memcpy(header + 12, &element_size_, 4);
    std::memcpy(header + 16, &count, 8);
    if (::pwrite(fd_, header, kHeaderBytes, 0) != static_cast<ssize_t>(kHeaderBytes)) {
      throw OutputError(path_, "write failed: " + errno_text(errno));
    }
    if (::fsync(fd_) != 0) throw OutputError(path_, "fsync failed: " + errno_text(errno));
    if (::close(fd_) != 0) {
      fd_ = -1;
      throw OutputError(path_, "close failed: " + errno_text(errno));
    }
    fd_ = -1;
  }

 private:
  static constexpr std::size_t kBuffer = 4 << 20;

  void flush() {
    raw_write(buffer_.data(), buffer_.size());
    buffer_.clear();
  }

  void raw_write(const std::uint8_t* p, std::size_t n) {
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) throw OutputError(path_, "write failed: " + errno_text(errno), "is the disk full?");
      p += w;
      n -= static_cast<std::size_t>(w);
    }
  }

  std::string path_;
  char magic_[8];
  std::uint32_t element_size_;
  int fd_ = -1;
  std::vector<std::uint8_t> buffer_;
};

std::string shard_name(std::size_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shard-%05zu", index);
  return buf;
}

std::uint32_t token_bytes_for_vocab(std::size_t vocab_size) { return vocab_size <= 65536 ? 2 : 4; }

ShardWriter::ShardWriter(std::string dir, std::uint32_t token_bytes, std::uint64_t shard_tokens, bool keep_text)
    : dir_(std::move(dir)), token_bytes_(token_bytes), shard_tokens_(shard_tokens == 0 ? 1 : shard_tokens),
      keep_text_(keep_text) {
  const std::uint16_t probe = 1;
  if (*reinterpret_cast<const std::uint8_t*>(&probe) != 1) {
    throw OutputError(dir_, "tokenized datasets are little-endian and this machine is not");
  }
}

ShardWriter::~ShardWriter() = default;

void ShardWriter::open_shard() {
  const std::string base = files::join(dir_, shard_name(shards_.size()));
  tokens_ = std::make_unique<File>(base + ".tokens", kTokensMagic, token_bytes_);
  text_ = std::make_unique<File>(base + ".text", kTextMagic, 1);
  token_offsets_.assign(1, 0);
  text_offsets_.assign(1, 0);
  sources_.clear();
  labels_.clear();
  flags_.clear();
  ShardSummary s;
  s.name = shard_name(shards_.size());
  shards_.push_back(s);
}

void ShardWriter::add(const DocumentRecord& doc) {
  if (!tokens_) open_shard();
  ShardSummary& s = shards_.back();
  if (token_bytes_ == 4) {
    tokens_->write(doc.ids, doc.num_ids * 4);
  } else {
    scratch_.resize(doc.num_ids * 2);
    for (std::size_t i = 0; i < doc.num_ids; ++i) {
      const auto v = static_cast<std::uint16_t>(doc.ids[i]);
      std::memcpy(scratch_.data() + 2 * i, &v, 2);
    }
    tokens_->write(scratch_.data(), scratch_.size());
  }
  const std::size_t text_bytes = keep_text_ && doc.text ? doc.text_bytes : 0;
  if (text_bytes) text_->write(doc.text, text_bytes);
  s.tokens += doc.num_ids;
  s.text_bytes += text_bytes;
  ++s.documents;
  token_offsets_.push_back(s.tokens);
  text_offsets_.push_back(s.text_bytes);
  sources_.push_back(doc.source);
  labels_.push_back(doc.label);
  flags_.push_back(doc.flags);
  if (s.tokens >= shard_tokens_) close_shard();
}

void ShardWriter::close_shard() {
  if (!tokens_) return;
  const ShardSummary& s = shards_.back();
  tokens_->close(s.tokens);
  text_->close(s.text_bytes);
  File index(files::join(dir_, s.name + ".index"), kIndexMagic, 8);
  index.write(token_offsets_.data(), token_offsets_.size() * 8);
  index.write(text_offsets_.data(), text_offsets_.size() * 8);
  index.write(sources_.data(), sources_.size() * 4);
  index.write(labels_.data(), labels_.size() * 4);
  index.write(flags_.data(), flags_.size());
  index.close(s.documents);
  tokens_.reset();
  text_.reset();
}

std::vector<ShardSummary> ShardWriter::finish() {
  close_shard();
  return shards_;
}

}  // namespace distill::data
