// The tokenized dataset's files on disk (byte layout: docs/data.md, "Shard layout") and their writer.
//
//   <dir>/meta.json              format "distill-tokens", tokenizer, dtype, counts, sources, shards, report
//   <dir>/shard-00000.tokens     header + token ids (uint16 or uint32, little-endian)
//   <dir>/shard-00000.index      header + per-document offsets, sources, labels, flags
//   <dir>/shard-00000.text       header + the documents' UTF-8 text, concatenated (empty without keep_text)
//
// Every file starts with a 32-byte header: magic (8 bytes), version (uint32), element size
// (uint32), element count (uint64), 8 zero bytes; the payload follows at byte 32.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace distill::data {

constexpr const char* kMetaFile = "meta.json";
constexpr const char* kDatasetFormat = "distill-tokens";
constexpr int kDatasetVersion = 1;
constexpr std::uint32_t kShardVersion = 1;
constexpr std::size_t kHeaderBytes = 32;
constexpr char kTokensMagic[8] = {'D', 'S', 'T', 'L', 'T', 'O', 'K', '\0'};
constexpr char kIndexMagic[8] = {'D', 'S', 'T', 'L', 'I', 'D', 'X', '\0'};
constexpr char kTextMagic[8] = {'D', 'S', 'T', 'L', 'T', 'X', 'T', '\0'};

// Document flags (index payload, one byte per document).
constexpr std::uint8_t kFlagAugmented = 1;     // made by data.augment.command from the document before it
constexpr std::uint8_t kFlagContinuation = 2;  // a later piece of a document split by the length limit
constexpr std::uint8_t kFlagPretokenized = 4;  // came as "input_ids" (no text)

// "shard-00000" (5+ digits).
std::string shard_name(std::size_t index);

// Bytes per token id: 2 when every id of the vocabulary fits in uint16, else 4.
std::uint32_t token_bytes_for_vocab(std::size_t vocab_size);

// One document as handed to the writer.
struct DocumentRecord {
  const std::int32_t* ids = nullptr;
  std::size_t num_ids = 0;
  const char* text = nullptr;  // may be null (no text kept)
  std::size_t text_bytes = 0;
  std::uint32_t source = 0;    // index into meta.json "sources"
  std::int32_t label = -1;     // index into meta.json "labels"; -1 none
  std::uint8_t flags = 0;
};

struct ShardSummary {
  std::string name;
  std::uint64_t documents = 0, tokens = 0, text_bytes = 0;
};

// Writes shards into an existing folder, starting a new shard when the current one holds
// `shard_tokens` tokens (a document never spans two shards). Each file is fsynced on close.
// Failures are OutputError naming the file.
class ShardWriter {
 public:
  ShardWriter(std::string dir, std::uint32_t token_bytes, std::uint64_t shard_tokens, bool keep_text);
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  void add(const DocumentRecord& doc);
  // Closes the open shard; returns every shard written.
  std::vector<ShardSummary> finish();

 private:
  class File;
  void open_shard();
  void close_shard();

  std::string dir_;
  std::uint32_t token_bytes_;
  std::uint64_t shard_tokens_;
  bool keep_text_;
  std::unique_ptr<File> tokens_, text_;
  std::vector<std::uint64_t> token_offsets_, text_offsets_;
  std::vector<std::uint32_t> sources_;
  std::vector<std::int32_t> labels_;
  std::vector<std::uint8_t> flags_;
  std::vector<ShardSummary> shards_;
  std::vector<std::uint8_t> scratch_;
};

}  // namespace distill::data
