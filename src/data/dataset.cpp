// Dataset: meta.json checked, shards memory-mapped and validated against their headers.
#include "distill/data/dataset.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "distill/data/shards.h"
#include "distill/util/errors.h"
#include "distill/util/files.h"

namespace distill::data {
namespace {

constexpr const char* kRebuildHint = "delete the folder and run distill tokenize again";

}  // namespace

// A read-only mapping of a whole file.
struct Dataset::Mapping {
  std::string path;
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;

  explicit Mapping(std::string p) : path(std::move(p)) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw InputError(path, "cannot open: " + errno_text(errno), kRebuildHint);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      throw InputError(path, "cannot stat: " + errno_text(err));
    }
    size = static_cast<std::size_t>(st.st_size);
    if (size > 0) {
      void* m = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
      if (m == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        throw InputError(path, "cannot map: " + errno_text(err));
      }
      data = static_cast<const std::uint8_t*>(m);
    }
    ::close(fd);
  }
  ~Mapping() {
    if (data) ::munmap(const_cast<std::uint8_t*>(data), size);
  }

  // Checks the 32-byte header and returns the element count.
  std::uint64_t header(const char* magic, std::uint32_t element_size) const {
    if (size < kHeaderBytes || std::memcmp(data, magic, 8) != 0) {
      throw InputError(path, "not a distill shard file (bad header)", kRebuildHint);
    }
    std::uint32_t version = 0, elem = 0;
    std::uint64_t count = 0;
    std::memcpy(&version, data + 8, 4);
    std::memcpy(&elem, data + 12, 4);
    std::memcpy(&count, data + 16, 8);
    if (version != kShardVersion) {
      throw InputError(path, "shard format version " + std::to_string(version) + ", this distill reads " +
                                 std::to_string(kShardVersion), kRebuildHint);
    }
    if (elem != element_size) {
      throw InputError(path, "element size " + std::to_string(elem) + ", expected " + std::to_string(element_size),
                       kRebuildHint);
    }
    return count;
  }
};

struct Dataset::Shard {
  std::unique_ptr<Mapping> tokens_file, index_file, text_file;
  const std::uint8_t* tokens = nullptr;
  const char* text = nullptr;
  const std::uint8_t* token_offsets = nullptr;  // (n + 1) uint64, unaligned-safe reads via memcpy
  const std::uint8_t* text_offsets = nullptr;
  const std::uint8_t* sources = nullptr;
  const std::uint8_t* labels = nullptr;
  const std::uint8_t* flags = nullptr;
  std::uint64_t documents = 0, num_tokens = 0, text_bytes = 0;
  std::int64_t first_token = 0;  // tokens in earlier shards

  template <typename T>
  static T at(const std::uint8_t* base, std::int64_t i) {
    T v;
    std::memcpy(&v, base + static_cast<std::size_t>(i) * sizeof(T), sizeof(T));
    return v;
  }

  // [begin, end) tokens of local document i, checked.
  std::pair<std::uint64_t, std::uint64_t> token_range(std::int64_t i) const {
    const auto b = at<std::uint64_t>(token_offsets, i), e = at<std::uint64_t>(token_offsets, i + 1);
    if (b > e || e > num_tokens) throw InputError(index_file->path, "damaged document offsets", kRebuildHint);
    return {b, e};
  }
  std::pair<std::uint64_t, std::uint64_t> text_range(std::int64_t i) const {
    const auto b = at<std::uint64_t>(text_offsets, i), e = at<std::uint64_t>(text_offsets, i + 1);
    if (b > e || e > text_bytes) throw InputError(index_file->path, "damaged text offsets", kRebuildHint);
    return {b, e};
  }
};

Dataset::~Dataset() = default;

std::shared_ptr<const Dataset> Dataset::open(const std::string& dir) {
  const std::string meta_path = files::join(dir, kMetaFile);
  std::ifstream in(meta_path, std::ios::binary);
  if (!in) throw InputError(dir, "not a tokenized dataset (no meta.json)", "make one with distill tokenize");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::shared_ptr<Dataset> ds(new Dataset());
  ds->dir_ = dir;
  ds->meta_ = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  const Json& m = ds->meta_;
  auto bad = [&](const std::string& what) -> InputError { return InputError(meta_path, what, kRebuildHint); };
  if (m.is_discarded() || !m.is_object()) throw bad("invalid JSON");
  if (m.value("format", "") != kDatasetFormat) throw bad("not a distill-tokens meta.json");
  if (m.value("version", 0) != kDatasetVersion) {
    throw bad("dataset format version " + m.value("version", Json()).dump() + ", this distill reads " +
              std::to_string(kDatasetVersion));
  }
  try {
    ds->build_key_ = m.at("build_key").get<std::string>();
    const Json& tok = m.at("tokenizer");
    ds->fingerprint_ = tok.at("fingerprint").get<std::string>();
    if (tok.contains("eos") && !tok["eos"].is_null()) ds->eos_ = tok["eos"].get<std::int32_t>();
    if (tok.contains("pad") && !tok["pad"].is_null()) ds->pad_ = tok["pad"].get<std::int32_t>();
    ds->token_bytes_ = m.at("token_bytes").get<std::uint32_t>();
    ds->has_text_ = m.at("keep_text").get<bool>();
    ds->labels_ = m.at("labels").get<std::vector<std::string>>();
    if (ds->token_bytes_ != 2 && ds->token_bytes_ != 4) throw bad("token_bytes must be 2 or 4");
    std::int64_t docs = 0, tokens = 0;
    for (const Json& s : m.at("shards")) {
      auto shard = std::make_unique<Shard>();
      const std::string base = files::join(dir, s.at("name").get<std::string>());
      shard->tokens_file = std::make_unique<Mapping>(base + ".tokens");
      shard->index_file = std::make_unique<Mapping>(base + ".index");
      shard->text_file = std::make_unique<Mapping>(base + ".text");
      shard->num_tokens = shard->tokens_file->header(kTokensMagic, ds->token_bytes_);
      shard->documents = shard->index_file->header(kIndexMagic, 8);
      shard->text_bytes = shard->text_file->header(kTextMagic, 1);
      const std::uint64_t n = shard->documents;
      if (shard->tokens_file->size != kHeaderBytes + shard->num_tokens * ds->token_bytes_) {
        throw InputError(shard->tokens_file->path, "size does not match its header (truncated?)", kRebuildHint);
      }
      if (shard->text_file->size != kHeaderBytes + shard->text_bytes) {
        throw InputError(shard->text_file->path, "size does not match its header (truncated?)", kRebuildHint);
      }
      if (shard->index_file->size != kHeaderBytes + 16 * (n + 1) + 9 * n) {
        throw InputError(shard->index_file->path, "size does not match its header (truncated?)", kRebuildHint);
      }
      if (n != s.at("documents").get<std::uint64_t>() || shard->num_tokens != s.at("tokens").get<std::uint64_t>()) {
        throw bad("shard " + base + " does not hold the documents and tokens meta.json lists");
      }
      const std::uint8_t* p = shard->index_file->data + kHeaderBytes;
      shard->tokens = shard->tokens_file->data + kHeaderBytes;
      shard->text = reinterpret_cast<const char*>(shard->text_file->data) + kHeaderBytes;
      shard->token_offsets = p;
      shard->text_offsets = p + 8 * (n + 1);
      shard->sources = p + 16 * (n + 1);
      shard->labels = shard->sources + 4 * n;
      shard->flags = shard->labels + 4 * n;
      if (Shard::at<std::uint64_t>(shard->token_offsets, static_cast<std::int64_t>(n)) != shard->num_tokens ||
          Shard::at<std::uint64_t>(shard->text_offsets, static_cast<std::int64_t>(n)) != shard->text_bytes) {
        throw InputError(shard->index_file->path, "offsets do not end at the shard's size", kRebuildHint);
      }
      shard->first_token = tokens;
      ds->first_doc_.push_back(docs);
      docs += static_cast<std::int64_t>(n);
      tokens += static_cast<std::int64_t>(shard->num_tokens);
      ds->shards_.push_back(std::move(shard));
    }
    ds->first_doc_.push_back(docs);
    ds->num_documents_ = docs;
    ds->num_tokens_ = tokens;
  } catch (const nlohmann::json::exception& e) {
    throw bad(std::string("missing or mistyped key: ") + e.what());
  }
  return ds;
}

const Dataset::Shard& Dataset::locate(std::int64_t doc, std::int64_t* local) const {
  if (doc < 0 || doc >= num_documents_) {
    throw Error(ExitCode::kInternal, "document " + std::to_string(doc) + " out of range [0, " +
                                         std::to_string(num_documents_) + ") in " + dir_);
  }
  const auto it = std::upper_bound(first_doc_.begin(), first_doc_.end(), doc) - 1;
  const std::size_t s = static_cast<std::size_t>(it - first_doc_.begin());
  *local = doc - *it;
  return *shards_[s];
}

std::int64_t Dataset::length(std::int64_t doc) const {
  std::int64_t i;
  const auto [b, e] = locate(doc, &i).token_range(i);
  return static_cast<std::int64_t>(e - b);
}

std::int64_t Dataset::tokens_before(std::int64_t doc) const {
  if (doc == num_documents_) return num_tokens_;
  std::int64_t i;
  const Shard& s = locate(doc, &i);
  return s.first_token + static_cast<std::int64_t>(s.token_range(i).first);
}

void Dataset::copy_tokens(std::int64_t doc, std::int64_t begin, std::int64_t end, std::int64_t* out) const {
  std::int64_t i;
  const Shard& s = locate(doc, &i);
  const auto [b, e] = s.token_range(i);
  if (begin < 0 || end < begin || static_cast<std::uint64_t>(end) > e - b) {
    throw Error(ExitCode::kInternal, "token range out of bounds in " + dir_);
  }
  const auto first = static_cast<std::int64_t>(b) + begin;
  if (token_bytes_ == 2) {
    for (std::int64_t k = 0; k < end - begin; ++k) out[k] = Shard::at<std::uint16_t>(s.tokens, first + k);
  } else {
    for (std::int64_t k = 0; k < end - begin; ++k) out[k] = Shard::at<std::uint32_t>(s.tokens, first + k);
  }
}

std::vector<std::int32_t> Dataset::tokens(std::int64_t doc) const {
  std::vector<std::int64_t> wide(static_cast<std::size_t>(length(doc)));
  copy_tokens(doc, 0, static_cast<std::int64_t>(wide.size()), wide.data());
  return std::vector<std::int32_t>(wide.begin(), wide.end());
}

std::string_view Dataset::text(std::int64_t doc) const {
  std::int64_t i;
  const Shard& s = locate(doc, &i);
  const auto [b, e] = s.text_range(i);
  return std::string_view(s.text + b, e - b);
}

std::uint32_t Dataset::source(std::int64_t doc) const {
  std::int64_t i;
  const Shard& s = locate(doc, &i);
  return Shard::at<std::uint32_t>(s.sources, i);
}

std::int32_t Dataset::label(std::int64_t doc) const {
  std::int64_t i;
  const Shard& s = locate(doc, &i);
  return Shard::at<std::int32_t>(s.labels, i);
}

std::uint8_t Dataset::flags(std::int64_t doc) const {
  std::int64_t i;
  const Shard& s = locate(doc, &i);
  return s.flags[i];
}

}  // namespace distill::data
