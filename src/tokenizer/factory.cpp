// load_tokenizer(): picks the backend for a model folder or a tokenizer file.

#include "distill/util/files.h"
#include "distill/tokenizer/loaders.h"
#include "distill/tokenizer/tokenizer.h"
#include "distill/util/errors.h"

namespace distill::tokenizer {
namespace {

bool is_file(const std::string& p) { return files::is_regular_file(p); }

constexpr const char* kLookedFor =
    "tokenizer.json, tokenizer.model, vocab.json + merges.txt, encoder.json + vocab.bpe, qwen.tiktoken";

std::unique_ptr<Tokenizer> load_from_dir(const std::string& dir) {
  const TokenizerConfig config = read_tokenizer_config(dir);
  auto in = [&dir](const char* name) { return files::join(dir, name); };
  if (is_file(in("tokenizer.json"))) return load_hf_json(in("tokenizer.json"), config);
  if (is_file(in("tokenizer.model"))) return load_sentencepiece(in("tokenizer.model"), config);
  for (const auto& [vocab, merges] : {std::pair{"vocab.json", "merges.txt"}, std::pair{"encoder.json", "vocab.bpe"}}) {
    if (is_file(in(vocab)) && is_file(in(merges))) return load_gpt2_files(in(vocab), in(merges), config);
  }
  if (is_file(in("qwen.tiktoken"))) return load_qwen_tiktoken(in("qwen.tiktoken"), config);
  throw InputError(dir, std::string("no tokenizer file in this folder (looked for ") + kLookedFor + ")",
                   "pass the folder of a Hugging Face model, or the tokenizer file itself");
}

std::unique_ptr<Tokenizer> load_from_file(const std::string& file) {
  const std::string dir = files::parent(file);
  const TokenizerConfig config = read_tokenizer_config(dir);
  const std::string name = files::filename(file);
  const std::string ext = files::extension(file);
  // The GPT-2 layout is two files: either one names the pair.
  for (const auto& [vocab, merges] : {std::pair{"vocab.json", "merges.txt"}, std::pair{"encoder.json", "vocab.bpe"}}) {
    if (name == vocab || name == merges) {
      if (!is_file(files::join(dir, vocab)) || !is_file(files::join(dir, merges))) {
        throw InputError(file, std::string("a GPT-2 tokenizer needs both ") + vocab + " and " + merges + " in " + dir);
      }
      return load_gpt2_files(files::join(dir, vocab), files::join(dir, merges), config);
    }
  }
  if (ext == ".json") return load_hf_json(file, config);
  if (ext == ".model") return load_sentencepiece(file, config);
  if (ext == ".tiktoken") return load_qwen_tiktoken(file, config);
  throw InputError(file, "cannot tell the tokenizer format from the file name",
                   std::string("name a model folder, or one of ") + kLookedFor + " (a *.json, *.model or *.tiktoken file)");
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path_or_dir) {
  if (files::is_directory(path_or_dir)) return load_from_dir(path_or_dir);
  if (files::exists(path_or_dir)) return load_from_file(path_or_dir);
  throw InputError(path_or_dir, "no such file or directory");
}

}  // namespace distill::tokenizer
