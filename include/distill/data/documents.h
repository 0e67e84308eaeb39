// Streaming documents out of data files (.txt lines or paragraphs, JSON lines, JSON arrays), with
// every unusable record counted by reason instead of stopping the run (docs/data.md, "Bad data").
#pragma once

#include <cstdint>
#include <istream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "distill/data/sources.h"

namespace distill::data {

struct Document {
  std::string text;                     // valid UTF-8 (repaired when needed); empty when pretokenized
  std::vector<std::int64_t> input_ids;  // a pretokenized record's "input_ids" (range-checked later)
  bool pretokenized = false;
  std::optional<std::string> label;     // the label field's value as text (strings as is, else JSON)
  std::uint32_t source = 0;             // index of the file in the reader's list
  std::uint64_t line = 0;               // 1-based line (JSON arrays: element) where it starts
};

struct ReadOptions {
  std::string text_field = "text";
  std::string label_field;              // empty: no labels
  bool paragraphs = false;              // .txt: blank-line separated documents instead of lines
  bool skip_invalid_utf8 = false;       // false: repair (U+FFFD per maximal invalid subsequence)
};

// Reasons a record is skipped (the keys of SkipCounts::skipped; docs/data.md lists them).
namespace skip {
constexpr const char* kEmpty = "empty";                      // no text, or only ASCII whitespace
constexpr const char* kInvalidJson = "invalid_json";         // a line that is not valid JSON
constexpr const char* kTruncatedLastLine = "truncated_last_line";  // invalid JSON on a last line without newline
constexpr const char* kNotAnObject = "not_an_object";        // valid JSON but neither an object nor a string
constexpr const char* kMissingField = "missing_field";       // no text field and no input_ids
constexpr const char* kNotAString = "not_a_string";          // the text field holds a number, null, ...
constexpr const char* kBadInputIds = "bad_input_ids";        // input_ids not a list of ids within the vocabulary
constexpr const char* kInvalidUtf8 = "invalid_utf8";         // with invalid_utf8 = skip
constexpr const char* kInvalidJsonFile = "invalid_json_file";  // a .json file that does not parse (counted once)
}  // namespace skip

struct SkipCounts {
  std::map<std::string, std::int64_t> skipped;  // reason -> records
  std::int64_t repaired_utf8 = 0;               // documents whose invalid UTF-8 was repaired
  std::int64_t total_skipped() const;
  // Counts one skip and logs the first few of each reason with their place ("a.jsonl:7: ...").
  void add(const std::string& reason, const std::string& where, const std::string& detail = {});
  // Adds another count's numbers (no logging).
  void merge(const SkipCounts& other);
  // "12 skipped: 7 empty, 5 missing_field" or "none skipped".
  std::string summary() const;
};

// Reads the files in order, a batch at a time. Not thread-safe (one reader per build).
class DocumentReader {
 public:
  DocumentReader(std::vector<InputFile> files, ReadOptions options, SkipCounts* counts);
  ~DocumentReader();
  DocumentReader(const DocumentReader&) = delete;
  DocumentReader& operator=(const DocumentReader&) = delete;

  // Appends documents to `out` until it holds `max_docs` or their text reaches `max_bytes` (one
  // document may exceed it). Returns false once every file is read and nothing was appended.
  // A file that cannot be opened or read is an InputError naming it.
  bool next_batch(std::vector<Document>& out, std::size_t max_docs, std::size_t max_bytes);

  // Bytes of the input files consumed so far (for progress).
  std::uint64_t bytes_read() const { return done_bytes_ + current_bytes_; }

 private:
  bool open_next();
  void close_current();
  bool read_one(Document& doc);  // false at the end of the current file
  bool read_line(std::string& line, bool* had_newline);

  std::vector<InputFile> files_;
  ReadOptions options_;
  SkipCounts* counts_;
  std::size_t next_file_ = 0;
  std::size_t current_ = 0;                  // index of the open file (valid while open_)
  bool open_ = false;
  InputFormat mode_ = InputFormat::kText;    // kJson: a parsed array or object, held in pending_
  std::unique_ptr<std::istream> in_;
  std::unique_ptr<char[]> buffer_;
  std::uint64_t line_no_ = 0;
  std::uint64_t current_bytes_ = 0, done_bytes_ = 0;
  std::vector<Document> pending_;            // documents of a .json array, handed out in order
  std::size_t pending_next_ = 0;
};

}  // namespace distill::data
