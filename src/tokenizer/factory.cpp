// load_tokenizer(): picks the backend for a model folder or a tokenizer file.
#include <filesystem>

#include "distill/tokenizer/loaders.h"
#include "distill/tokenizer/tokenizer.h"
#include "distill/util/errors.h"

namespace distill::tokenizer {
namespace fs = std::filesystem;
namespace {

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

constexpr const char* kLookedFor =
    "tokenizer.json, tokenizer.model, vocab.json + merges.txt, encoder.json + vocab.bpe, qwen.tiktoken";

std::unique_ptr<Tokenizer> load_from_dir(const fs::path& dir) {
  const TokenizerConfig config = read_tokenizer_config(dir.string());
  if (is_file(dir / "tokenizer.json")) return load_hf_json((dir / "tokenizer.json").string(), config);
  if (is_file(dir / "tokenizer.model")) return load_sentencepiece((dir / "tokenizer.model").string(), config);
  for (const auto& [vocab, merges] : {std::pair{"vocab.json", "merges.txt"}, std::pair{"encoder.json", "vocab.bpe"}}) {
    if (is_file(dir / vocab) && is_file(dir / merges)) {
      return load_gpt2_files((dir / vocab).string(), (dir / merges).string(), config);
    }
  }
  if (is_file(dir / "qwen.tiktoken")) return load_qwen_tiktoken((dir / "qwen.tiktoken").string(), config);
  throw InputError(dir.string(), std::string("no tokenizer file in this folder (looked for ") + kLookedFor + ")",
                   "pass the folder of a Hugging Face model, or the tokenizer file itself");
}

std::unique_ptr<Tokenizer> load_from_file(const fs::path& file) {
  const fs::path dir = file.has_parent_path() ? file.parent_path() : fs::path(".");
  const TokenizerConfig config = read_tokenizer_config(dir.string());
  const std::string name = file.filename().string();
  const std::string ext = file.extension().string();
  // The GPT-2 layout is two files: either one names the pair.
  for (const auto& [vocab, merges] : {std::pair{"vocab.json", "merges.txt"}, std::pair{"encoder.json", "vocab.bpe"}}) {
    if (name == vocab || name == merges) {
      if (!is_file(dir / vocab) || !is_file(dir / merges)) {
        throw InputError(file.string(), std::string("a GPT-2 tokenizer needs both ") + vocab + " and " + merges +
                                            " in " + dir.string());
      }
      return load_gpt2_files((dir / vocab).string(), (dir / merges).string(), config);
    }
  }
  if (ext == ".json") return load_hf_json(file.string(), config);
  if (ext == ".model") return load_sentencepiece(file.string(), config);
  if (ext == ".tiktoken") return load_qwen_tiktoken(file.string(), config);
  throw InputError(file.string(), "cannot tell the tokenizer format from the file name",
                   std::string("name a model folder, or one of ") + kLookedFor + " (a *.json, *.model or *.tiktoken file)");
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path_or_dir) {
  std::error_code ec;
  const fs::path p(path_or_dir);
  if (fs::is_directory(p, ec)) return load_from_dir(p);
  if (fs::exists(p, ec)) return load_from_file(p);
  throw InputError(path_or_dir, "no such file or directory");
}

}  // namespace distill::tokenizer
