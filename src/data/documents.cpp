// DocumentReader: data files -> Documents, streaming line by line; bad records counted, never fatal.
#include "distill/data/documents.h"

#include <fstream>
#include <iterator>
#include <sstream>

#include <nlohmann/json.hpp>

#include "distill/tokenizer/utf8.h"
#include "distill/util/errors.h"
#include "distill/util/files.h"
#include "distill/util/logging.h"

namespace distill::data {
namespace {

using nlohmann::json;

constexpr std::int64_t kWarningsPerReason = 3;
constexpr std::size_t kReadBuffer = 1 << 20;

bool blank(const std::string& s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '\v' && c != '\f') return false;
  }
  return true;
}

std::string short_json(const json& j) {
  std::string s = j.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

// The pieces of one record's handling that do not depend on where it came from.
struct RecordParser {
  const ReadOptions& options;
  SkipCounts& counts;

  // Text through the UTF-8 and emptiness rules. False (counted) when skipped.
  bool accept_text(std::string text, const std::string& where, Document& doc) {
    if (blank(text)) {
      counts.add(skip::kEmpty, where);
      return false;
    }
    if (!tokenizer::utf8::is_valid(text)) {
      if (options.skip_invalid_utf8) {
        counts.add(skip::kInvalidUtf8, where);
        return false;
      }
      text = tokenizer::utf8::repair(text);
      ++counts.repaired_utf8;
    }
    doc.text = std::move(text);
    return true;
  }

  // A parsed JSON record (object or string). False (counted) when skipped.
  bool record(const json& j, const std::string& where, Document& doc) {
    if (j.is_string()) return accept_text(j.get<std::string>(), where, doc);
    if (!j.is_object()) {
      counts.add(skip::kNotAnObject, where, "got " + short_json(j));
      return false;
    }
    if (!options.label_field.empty()) {
      const auto label = j.find(options.label_field);
      if (label != j.end() && !label->is_null()) {
        doc.label = label->is_string() ? label->get<std::string>() : label->dump();
      }
    }
    const auto ids = j.find("input_ids");
    if (ids != j.end()) {
      if (!ids->is_array()) {
        counts.add(skip::kBadInputIds, where, "\"input_ids\" is not a list");
        return false;
      }
      doc.input_ids.reserve(ids->size());
      for (const auto& id : *ids) {
        if (!id.is_number_integer() || id.get<std::int64_t>() < 0) {
          counts.add(skip::kBadInputIds, where, "\"input_ids\" holds " + short_json(id));
          doc.input_ids.clear();
          return false;
        }
        doc.input_ids.push_back(id.get<std::int64_t>());
      }
      if (doc.input_ids.empty()) {
        counts.add(skip::kEmpty, where, "\"input_ids\" is empty");
        return false;
      }
      doc.pretokenized = true;
      return true;
    }
    const auto text = j.find(options.text_field);
    if (text == j.end()) {
      counts.add(skip::kMissingField, where, "no \"" + options.text_field + "\" field");
      return false;
    }
    if (!text->is_string()) {
      counts.add(skip::kNotAString, where, "\"" + options.text_field + "\" is " + short_json(*text));
      return false;
    }
    return accept_text(text->get<std::string>(), where, doc);
  }

  // One JSON line: UTF-8 repaired (or skipped) first, since JSON must be UTF-8.
  bool line(std::string raw, const std::string& where, bool last_without_newline, Document& doc) {
    if (blank(raw)) {
      counts.add(skip::kEmpty, where);
      return false;
    }
    bool repaired = false;
    if (!tokenizer::utf8::is_valid(raw)) {
      if (options.skip_invalid_utf8) {
        counts.add(skip::kInvalidUtf8, where);
        return false;
      }
      raw = tokenizer::utf8::repair(raw);
      repaired = true;
    }
    json j = json::parse(raw, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      if (last_without_newline) counts.add(skip::kTruncatedLastLine, where, "the file ends inside this record");
      else counts.add(skip::kInvalidJson, where);
      return false;
    }
    if (!record(j, where, doc)) return false;
    if (repaired) ++counts.repaired_utf8;
    return true;
  }
};

std::string where_of(const InputFile& f, std::uint64_t line, bool element) {
  return f.path + (element ? ": element " : ":") + std::to_string(line);
}

}  // namespace

std::int64_t SkipCounts::total_skipped() const {
  std::int64_t n = 0;
  for (const auto& [reason, count] : skipped) n += count;
  return n;
}

void SkipCounts::add(const std::string& reason, const std::string& where, const std::string& detail) {
  const std::int64_t n = ++skipped[reason];
  if (n <= kWarningsPerReason) {
    log::warn("data: {}: skipped ({}{}){}", where, reason, detail.empty() ? "" : ": " + detail,
              n == kWarningsPerReason ? "; further records skipped for this reason are only counted" : "");
  }
}

void SkipCounts::merge(const SkipCounts& other) {
  for (const auto& [reason, count] : other.skipped) skipped[reason] += count;
  repaired_utf8 += other.repaired_utf8;
}

std::string SkipCounts::summary() const {
  const std::int64_t total = total_skipped();
  if (total == 0) return "none skipped";
  std::string s = std::to_string(total) + " skipped:";
  bool first = true;
  for (const auto& [reason, count] : skipped) {
    s += (first ? " " : ", ") + std::to_string(count) + " " + reason;
    first = false;
  }
  return s;
}

DocumentReader::DocumentReader(std::vector<InputFile> files, ReadOptions options, SkipCounts* counts)
    : files_(std::move(files)), options_(std::move(options)), counts_(counts), buffer_(new char[kReadBuffer]) {}

DocumentReader::~DocumentReader() = default;

bool DocumentReader::open_next() {
  if (next_file_ >= files_.size()) return false;
  current_ = next_file_++;
  const InputFile& f = files_[current_];
  line_no_ = 0;
  current_bytes_ = 0;
  pending_.clear();
  pending_next_ = 0;
  auto file = std::make_unique<std::ifstream>();
  file->rdbuf()->pubsetbuf(buffer_.get(), kReadBuffer);
  file->open(f.path, std::ios::binary);
  if (!*file) throw InputError(f.path, "cannot open: " + errno_text(errno));
  mode_ = f.format;
  if (f.format != InputFormat::kJson) {
    in_ = std::move(file);
    open_ = true;
    return true;
  }
  // .json: read whole (docs/data.md: use .jsonl for large data), then an array, one object, or JSON lines.
  std::string text((std::istreambuf_iterator<char>(*file)), std::istreambuf_iterator<char>());
  if (file->bad()) throw InputError(f.path, "read failed: " + errno_text(errno));
  const auto first = text.find_first_not_of(" \t\r\n");
  RecordParser parser{options_, *counts_};
  if (first == std::string::npos) {
    counts_->add(skip::kInvalidJsonFile, f.path, "the file is empty");
  } else {
    bool repaired = false;
    if (!tokenizer::utf8::is_valid(text)) {
      if (options_.skip_invalid_utf8) {
        counts_->add(skip::kInvalidUtf8, f.path, "the file holds invalid UTF-8");
        text.clear();
      } else {
        text = tokenizer::utf8::repair(text);
        repaired = true;
      }
    }
    json j = text.empty() ? json() : json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!text.empty() && j.is_discarded() && text[first] == '{') {
      // Not one JSON value but starting with an object: JSON lines in a .json file.
      in_ = std::make_unique<std::istringstream>(std::move(text));
      mode_ = InputFormat::kJsonLines;
      open_ = true;
      return true;
    }
    if (!text.empty() && j.is_discarded()) {
      counts_->add(skip::kInvalidJsonFile, f.path, "not valid JSON (truncated?); no record of it is used");
    } else if (j.is_array()) {
      for (std::size_t i = 0; i < j.size(); ++i) {
        Document d;
        d.source = static_cast<std::uint32_t>(current_);
        d.line = i + 1;
        if (parser.record(j[i], where_of(f, i + 1, true), d)) pending_.push_back(std::move(d));
      }
    } else if (j.is_object()) {
      Document d;
      d.source = static_cast<std::uint32_t>(current_);
      d.line = 1;
      if (parser.record(j, f.path, d)) pending_.push_back(std::move(d));
    } else if (!text.empty()) {
      counts_->add(skip::kNotAnObject, f.path, "the file holds " + short_json(j));
    }
    if (repaired && !pending_.empty()) counts_->repaired_utf8 += 1;
  }
  in_.reset();
  current_bytes_ = static_cast<std::uint64_t>(f.size);
  open_ = true;
  return true;
}

void DocumentReader::close_current() {
  in_.reset();
  open_ = false;
  done_bytes_ += static_cast<std::uint64_t>(files_[current_].size);
  current_bytes_ = 0;
  pending_.clear();
}

bool DocumentReader::read_line(std::string& line, bool* had_newline) {
  if (!std::getline(*in_, line)) {
    if (in_->bad()) throw InputError(files_[current_].path, "read failed: " + errno_text(errno));
    return false;
  }
  *had_newline = !in_->eof();
  ++line_no_;
  current_bytes_ += line.size() + (*had_newline ? 1 : 0);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

bool DocumentReader::read_one(Document& doc) {
  const InputFile& f = files_[current_];
  RecordParser parser{options_, *counts_};
  if (!in_) {  // a parsed .json file
    if (pending_next_ >= pending_.size()) return false;
    doc = std::move(pending_[pending_next_++]);
    return true;
  }
  std::string line;
  bool had_newline = false;
  while (true) {
    doc = Document();
    doc.source = static_cast<std::uint32_t>(current_);
    if (mode_ == InputFormat::kJsonLines) {
      if (!read_line(line, &had_newline)) return false;
      doc.line = line_no_;
      if (parser.line(std::move(line), where_of(f, line_no_, false), !had_newline, doc)) return true;
      continue;
    }
    if (!options_.paragraphs) {
      if (!read_line(line, &had_newline)) return false;
      doc.line = line_no_;
      if (parser.accept_text(std::move(line), where_of(f, line_no_, false), doc)) return true;
      continue;
    }
    // Paragraphs: non-blank lines joined by '\n' up to a blank line or the end.
    std::string text;
    std::uint64_t start = 0;
    while (read_line(line, &had_newline)) {
      if (blank(line)) {
        if (!text.empty()) break;
        continue;  // blank lines between paragraphs are separators, not documents
      }
      if (text.empty()) start = line_no_;
      else text += '\n';
      text += line;
    }
    if (text.empty()) return false;
    doc.line = start;
    if (parser.accept_text(std::move(text), where_of(f, start, false), doc)) return true;
  }
}

bool DocumentReader::next_batch(std::vector<Document>& out, std::size_t max_docs, std::size_t max_bytes) {
  std::size_t added = 0, bytes = 0;
  while (added < max_docs && bytes < max_bytes) {
    if (!open_ && !open_next()) break;
    Document d;
    if (!read_one(d)) {
      close_current();
      continue;
    }
    bytes += d.text.size() + d.input_ids.size() * 4;
    out.push_back(std::move(d));
    ++added;
  }
  return added > 0;
}

}  // namespace distill::data
