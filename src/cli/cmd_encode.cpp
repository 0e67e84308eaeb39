// `distill encode`: JSONL texts -> JSONL token ids with a model's tokenizer (stdin/stdout by default).
#include <charconv>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "distill/cli/commands.h"
#include "distill/io/atomic_file.h"
#include "distill/tokenizer/tokenizer.h"
#include "distill/util/errors.h"
#include "distill/util/logging.h"

namespace distill::cli {
namespace {

struct EncodeCliOptions {
  std::string tokenizer;
  std::string input = "-";
  std::string output = "-";
  std::string text_field = "text";
  bool add_special_tokens = false;
  bool offsets = false;
  unsigned threads = 0;
};

constexpr std::size_t kBatchLines = 4096;

void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// {"ids":[...]} or {"ids":[...],"offsets":[[b,e],...]}
void append_line(std::string& out, const tokenizer::Encoding& e, bool offsets) {
  out += "{\"ids\":[";
  for (std::size_t i = 0; i < e.ids.size(); ++i) {
    if (i) out += ',';
    append_number(out, static_cast<std::uint64_t>(e.ids[i]));
  }
  out += ']';
  if (offsets) {
    out += ",\"offsets\":[";
    for (std::size_t i = 0; i < e.offsets.size(); ++i) {
      if (i) out += ',';
      out += '[';
      append_number(out, e.offsets[i].begin);
      out += ',';
      append_number(out, e.offsets[i].end);
      out += ']';
    }
    out += ']';
  }
  out += "}\n";
}

// The text of one input line; InputError naming the line for anything else.
std::string text_of_line(const std::string& line, std::size_t line_no, const std::string& field,
                         const std::string& input_name) {
  const std::string where = "line " + std::to_string(line_no);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(input_name, where + ": invalid JSON: " + e.what(),
                     "each line must be a JSON object such as {\"" + field + "\": \"...\"}");
  }
  if (!j.is_object()) throw InputError(input_name, where + ": expected a JSON object");
  const auto it = j.find(field);
  if (it == j.end()) {
    throw InputError(input_name, where + ": no \"" + field + "\" field", "choose the field with --text-field");
  }
  if (!it->is_string()) throw InputError(input_name, where + ": \"" + field + "\" is not a string");
  return it->get<std::string>();
}

int run_encode(const EncodeCliOptions& o) {
  const auto tok = tokenizer::load_tokenizer(o.tokenizer);
  const bool from_stdin = o.input == "-";
  const std::string input_name = from_stdin ? "<stdin>" : o.input;
  std::ifstream file;
  if (!from_stdin) {
    file.open(o.input, std::ios::binary);
    if (!file) throw InputError(o.input, "cannot open: " + errno_text(errno));
  }
  std::istream& in = from_stdin ? std::cin : file;

  std::optional<io::AtomicFile> out_file;
  if (o.output != "-") out_file.emplace(o.output);
  auto emit = [&](const std::string& chunk) {
    if (out_file) {
      out_file->write(chunk);
    } else {
      std::cout.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      if (!std::cout) throw OutputError("<stdout>", "write failed");
    }
  };

  tokenizer::EncodeOptions eo;
  eo.add_special_tokens = o.add_special_tokens;
  eo.offsets = o.offsets;
  const auto start = std::chrono::steady_clock::now();
  std::size_t line_no = 0, lines = 0, bytes = 0, tokens = 0;
  std::vector<std::string> texts;
  std::string line, chunk;
  bool pending_empty = false;  // an empty line is only fine as the very end of the input
  std::size_t pending_empty_no = 0;
  auto flush = [&]() {
    if (texts.empty()) return;
    std::vector<std::string_view> views(texts.begin(), texts.end());
    const auto encodings = tok->encode_batch(views, eo, o.threads);
    chunk.clear();
    for (const auto& e : encodings) {
      append_line(chunk, e, o.offsets);
      tokens += e.ids.size();
    }
    emit(chunk);
    texts.clear();
  };
  while (std::getline(in, line)) {
    ++line_no;
    if (pending_empty) {
      throw InputError(input_name, "line " + std::to_string(pending_empty_no) + ": empty line (expected a JSON object)");
    }
    if (line.empty() || line == "\r") {
      pending_empty = true;
      pending_empty_no = line_no;
      continue;
    }
    texts.push_back(text_of_line(line, line_no, o.text_field, input_name));
    bytes += texts.back().size();
    ++lines;
    if (texts.size() >= kBatchLines) flush();
  }
  if (in.bad()) throw InputError(input_name, "read failed: " + errno_text(errno));
  flush();
  if (out_file) {
    out_file->commit();
  } else {
    std::cout.flush();
    if (!std::cout) throw OutputError("<stdout>", "write failed");
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::info("encoded {} lines ({} bytes of text) into {} tokens with {} ({}) in {:.2f} s", lines, bytes, tokens,
            tok->source(), tok->kind(), seconds);
  return 0;
}

}  // namespace

Command add_encode(CLI::App& root) {
  auto opts = std::make_shared<EncodeCliOptions>();
  CLI::App* sub = root.add_subcommand("encode", "encode JSONL text to token ids with a model's tokenizer");
  sub->add_option("--tokenizer", opts->tokenizer,
                  "model folder or tokenizer file (tokenizer.json, tokenizer.model, vocab.json, qwen.tiktoken)")
      ->required();
  sub->add_option("--input", opts->input, "JSONL file, one {\"text\": ...} per line ('-': stdin, the default)");
  sub->add_option("--output", opts->output,
                  "JSONL file for {\"ids\": [...]} lines, replaced atomically ('-': stdout, the default)");
  sub->add_flag("--add-special-tokens", opts->add_special_tokens,
                "add what the tokenizer's post-processor adds (e.g. BOS); off by default");
  sub->add_option("--text-field", opts->text_field, "the field that holds the text (default: text)");
  sub->add_flag("--offsets", opts->offsets, "also write \"offsets\": [[begin, end], ...] byte ranges per token");
  sub->add_option("--threads", opts->threads, "encoding threads (default 0: every core)");
  Command cmd;
  cmd.app = sub;
  cmd.run = [opts]() -> int { return run_encode(*opts); };
  return cmd;
}

}  // namespace distill::cli
