// Augmenter: the JSONL protocol with the user's command, and its append-only cache file.
#include "distill/data/augment.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "distill/util/errors.h"
#include "distill/util/files.h"
#include "distill/util/logging.h"
#include "distill/util/sha256.h"
#include "distill/util/subprocess.h"

namespace distill::data {
namespace {

using nlohmann::json;

std::string tail_text(const std::string& err) {
  std::string t = err;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  if (t.empty()) return "(its stderr was empty)";
  if (t.size() > 1500) t = "..." + t.substr(t.size() - 1500);
  return "its stderr ends with:\n" + t;
}

// The extra documents in one answer line: {"texts": [...]}; empty optional for a malformed line.
bool parse_answer(const std::string& line, std::vector<std::string>* texts, std::string* problem) {
  const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    *problem = "an answer line is not valid JSON";
    return false;
  }
  const auto it = j.is_object() ? j.find("texts") : j.end();
  if (!j.is_object() || it == j.end() || !it->is_array()) {
    *problem = "an answer line is not an object with a \"texts\" list";
    return false;
  }
  texts->clear();
  for (const auto& t : *it) {
    if (!t.is_string()) {
      *problem = "\"texts\" holds a non-string";
      return false;
    }
    texts->push_back(t.get<std::string>());
  }
  return true;
}

}  // namespace

Augmenter::Augmenter(AugmentOptions options) : options_(std::move(options)) {
  if (options_.command.empty()) throw Error(ExitCode::kInternal, "augmenter without a command");
  argv_ = options_.shell ? std::vector<std::string>{"/bin/sh", "-c", options_.command.at(0)} : options_.command;
  identity_ = json{{"command", options_.command}, {"shell", options_.shell}}.dump();
  if (!options_.cache_file.empty()) load_cache();
}

Augmenter::~Augmenter() {
  if (cache_fd_ >= 0) ::close(cache_fd_);
}

std::string Augmenter::command_text() const {
  std::string s;
  for (const auto& a : options_.command) s += (s.empty() ? "" : " ") + a;
  return s;
}

std::string Augmenter::key(std::string_view text) const {
  Sha256 h;
  h.update(identity_);
  h.update("\n", 1);
  h.update(text);
  return h.hex_digest();
}

void Augmenter::load_cache() {
  files::create_directories(files::parent(options_.cache_file));
  cache_fd_ = ::open(options_.cache_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (cache_fd_ < 0) throw OutputError(options_.cache_file, "cannot open the augmentation cache: " + errno_text(errno));
  struct stat st;
  ::fstat(cache_fd_, &st);
  std::string data(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < data.size()) {
    const ssize_t r = ::pread(cache_fd_, data.data() + got, data.size() - got, static_cast<off_t>(got));
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  data.resize(got);
  // Lines {"key": "...", "texts": [...]}; a damaged or partial line (a killed run) ends the good part.
  std::size_t pos = 0;
  while (pos < data.size()) {
    const std::size_t nl = data.find('\n', pos);
    if (nl == std::string::npos) break;
    const json j = json::parse(data.begin() + static_cast<std::ptrdiff_t>(pos),
                               data.begin() + static_cast<std::ptrdiff_t>(nl), nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("key") || !j["key"].is_string()) break;
    index_[j["key"].get<std::string>()] = {pos, nl - pos};
    pos = nl + 1;
  }
  if (pos < data.size()) {
    log::warn("data: {}: dropping a damaged tail of {} bytes (an interrupted run)", options_.cache_file,
              data.size() - pos);
    if (::ftruncate(cache_fd_, static_cast<off_t>(pos)) != 0) {
      throw OutputError(options_.cache_file, "cannot truncate: " + errno_text(errno));
    }
  }
  cache_size_ = pos;
}

std::vector<std::string> Augmenter::cached(const std::string& k) const {
  const auto& [offset, size] = index_.at(k);
  std::string line(size, '\0');
  if (::pread(cache_fd_, line.data(), size, static_cast<off_t>(offset)) != static_cast<ssize_t>(size)) {
    throw OutputError(options_.cache_file, "cannot read the augmentation cache: " + errno_text(errno));
  }
  std::vector<std::string> texts;
  std::string problem;
  if (!parse_answer(line, &texts, &problem)) {
    throw InputError(options_.cache_file, "damaged augmentation cache (" + problem + ")", "delete the file");
  }
  return texts;
}

void Augmenter::store(const std::string& k, const std::vector<std::string>& texts) {
  if (cache_fd_ < 0) return;
  const std::string line = json{{"key", k}, {"texts", texts}}.dump() + "\n";
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t w = ::pwrite(cache_fd_, line.data() + done, line.size() - done, static_cast<off_t>(cache_size_ + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw OutputError(options_.cache_file, "write failed: " + errno_text(errno));
    done += static_cast<std::size_t>(w);
  }
  index_[k] = {cache_size_, line.size() - 1};
  cache_size_ += line.size();
}

void Augmenter::fail(const std::string& what, bool kill) {
  std::string err = child_ ? child_->stderr_tail() : std::string();
  if (kill) child_.reset();  // the destructor kills and reaps
  throw InputError("", "data.augment.command '" + command_text() + "' " + what + "; " + tail_text(err),
                   "the command must answer each input line {\"text\": ...} with one line {\"texts\": [...]} "
                   "(flush after each line) and exit 0 at the end of its input (docs/data.md, \"Augmentation\")");
}

std::vector<std::vector<std::string>> Augmenter::run(const std::vector<std::string_view>& texts) {
  std::vector<std::vector<std::string>> out(texts.size());
  std::vector<std::string> keys(texts.size());
  std::vector<std::size_t> misses;
  std::string input;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    keys[i] = key(texts[i]);
    if (index_.count(keys[i])) {
      out[i] = cached(keys[i]);
      ++hits_;
      continue;
    }
    misses.push_back(i);
    input += json{{"text", std::string(texts[i])}}.dump(-1, ' ', false, json::error_handler_t::replace);
    input += '\n';
  }
  if (misses.empty()) return out;
  if (!child_) {
    try {
      child_ = std::make_unique<Subprocess>(argv_);
    } catch (const SubprocessError& e) {
      throw UsageError(std::string("data.augment.command: ") + e.what(),
                       "check the command and its PATH; with data.augment.shell false the first element is the "
                       "program, the rest its arguments");
    }
  }
  std::vector<std::string> lines;
  try {
    lines = child_->exchange(input, misses.size(), options_.timeout_s);
  } catch (const SubprocessError& e) {
    const bool exited = e.kind() == SubprocessError::Kind::kExited;
    std::string what = e.what();
    if (exited) {
      std::string rest;
      int code = -1;
      try {
        code = child_->finish(options_.timeout_s, &rest);
      } catch (const SubprocessError&) {
      }
      what += code >= 0 ? " and exited with status " + std::to_string(code) : "";
    } else if (e.kind() == SubprocessError::Kind::kTimeout) {
      char limit[32];
      std::snprintf(limit, sizeof limit, "%g", options_.timeout_s);
      what += "; killed (data.augment.timeout_s = " + std::string(limit) + ")";
    }
    fail(what, true);
  }
  std::vector<std::string> answer;
  std::string problem;
  for (std::size_t j = 0; j < misses.size(); ++j) {
    if (!parse_answer(lines[j], &answer, &problem)) {
      std::string shown = lines[j].size() > 200 ? lines[j].substr(0, 200) + "..." : lines[j];
      fail("broke the protocol: " + problem + ": " + shown, true);
    }
    out[misses[j]] = answer;
    store(keys[misses[j]], answer);
    ++computed_;
  }
  return out;
}

void Augmenter::finish() {
  if (child_) {
    std::string rest;
    int code = 0;
    try {
      code = child_->finish(options_.timeout_s, &rest);
    } catch (const SubprocessError& e) {
      fail(std::string("did not end: ") + e.what(), true);
    }
    if (code != 0) fail("exited with status " + std::to_string(code), true);
    if (rest.find_first_not_of(" \t\r\n") != std::string::npos) {
      fail("wrote more answer lines than it was sent documents", true);
    }
    child_.reset();
  }
  if (cache_fd_ >= 0 && ::fsync(cache_fd_) != 0) {
    throw OutputError(options_.cache_file, "fsync failed: " + errno_text(errno));
  }
}

}  // namespace distill::data
