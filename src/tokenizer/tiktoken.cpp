// qwen.tiktoken loader: base64 ranks file + the original Qwen tokenizer's regex, NFC and special tokens.
#include <array>

#include "distill/tokenizer/loaders.h"
#include "distill/tokenizer/pipeline.h"
#include "distill/util/errors.h"

namespace distill::tokenizer {
namespace {

// The original Qwen(-7B) tokenizer (tokenization_qwen.py): tiktoken with this pattern, NFC applied
// to the whole text first, every special token recognised in text (allowed_special="all").
constexpr const char* kQwenPattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr int kQwenExtraTokens = 205;

// Standard base64 with '=' padding; false on anything else.
bool base64_decode(std::string_view in, std::string& out) {
  static const std::array<std::int8_t, 256> table = [] {
    std::array<std::int8_t, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
    return t;
  }();
  out.clear();
  if (in.empty() || in.size() % 4 != 0) return false;
  std::size_t pad = 0;
  if (in.back() == '=') pad = in[in.size() - 2] == '=' ? 2 : 1;
  for (std::size_t i = 0; i < in.size(); i += 4) {
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = in[i + k];
      const bool is_pad = c == '=' && i + 4 == in.size() && k >= 4 - pad;
      const int d = is_pad ? 0 : table[static_cast<unsigned char>(c)];
      if (d < 0) return false;
      v = (v << 6) | static_cast<std::uint32_t>(d);
    }
    out.push_back(static_cast<char>(v >> 16));
    if (!(i + 4 == in.size() && pad == 2)) out.push_back(static_cast<char>((v >> 8) & 0xFF));
    if (!(i + 4 == in.size() && pad >= 1)) out.push_back(static_cast<char>(v & 0xFF));
  }
  return true;
}

}  // namespace

std::unique_ptr<Tokenizer> load_qwen_tiktoken(const std::string& path, const TokenizerConfig& config) {
  const std::string text = read_input_file(path);
  std::vector<std::pair<std::string, TokenId>> ranks;
  std::size_t pos = 0, line_no = 0;
  std::string bytes;
  TokenId max_rank = -1;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    // Python's line.split(): fields separated by whitespace.
    std::vector<std::string_view> fields;
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      const std::size_t b = i;
      while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      if (i > b) fields.push_back(line.substr(b, i - b));
    }
    if (fields.empty()) continue;
    const std::string where = "line " + std::to_string(line_no);
    if (fields.size() != 2) throw InputError(path, where + ": expected '<base64 token> <rank>'");
    if (!base64_decode(fields[0], bytes)) throw InputError(path, where + ": '" + std::string(fields[0]) + "' is not base64");
    long long rank = -1;
    try {
      std::size_t used = 0;
      rank = std::stoll(std::string(fields[1]), &used);
      if (used != fields[1].size()) rank = -1;
    } catch (const std::exception&) {
      rank = -1;
    }
    if (rank < 0 || rank > 0x7FFFFFFF) throw InputError(path, where + ": '" + std::string(fields[1]) + "' is not a rank");
    ranks.emplace_back(bytes, static_cast<TokenId>(rank));
    max_rank = std::max(max_rank, static_cast<TokenId>(rank));
  }
  if (ranks.empty()) throw InputError(path, "no ranks in file");

  PipelineParts parts;
  try {
    parts.model = BpeModel::from_ranks(ranks);
  } catch (const BpeError& e) {
    throw InputError(path, e.what());
  }
  parts.normalizer = make_unicode_normalizer(unicode::Form::kNFC, unicode::latest_version());
  parts.normalize_before_added_tokens = true;
  parts.pre_tokenizer = make_split_pre_tokenizer(Regex::compile(kQwenPattern), SplitBehavior::kIsolated, false);
  parts.decoder = make_raw_bytes_decoder();

  // Special ids follow the regular ones (151643 in Qwen's file, its SPECIAL_START_ID).
  std::vector<std::string> names = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  for (int k = 0; k < kQwenExtraTokens; ++k) names.push_back("<|extra_" + std::to_string(k) + "|>");
  std::vector<AddedToken> added;
  for (std::size_t k = 0; k < names.size(); ++k) {
    AddedToken t;
    t.id = max_rank + 1 + static_cast<TokenId>(k);
    t.content = names[k];
    t.special = true;
    added.push_back(std::move(t));
  }
  parts.added = AddedVocabulary(std::move(added));
  TokenizerConfig cfg = config;
  if (!cfg.eos) cfg.eos = "<|endoftext|>";  // QWenTokenizer's eod
  const AddedVocabulary& av = parts.added;
  const BpeModel& model = *parts.model;
  parts.special = resolve_special_tokens(
      cfg,
      [&](const std::string& name) -> std::optional<TokenId> {
        if (auto id = av.find_content(name)) return id;
        return model.token_to_id(name);
      },
      path);
  parts.kind = "tiktoken";
  parts.source = path;
  parts.lossless = true;
  std::vector<std::string> contents{text};
  contents.insert(contents.end(), config.files.begin(), config.files.end());
  parts.fingerprint = fingerprint(parts.kind, contents);
  return make_pipeline_tokenizer(std::move(parts));
}

}  // namespace distill::tokenizer
