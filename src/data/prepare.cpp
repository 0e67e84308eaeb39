// The trainer's side of the data pipeline: data.* -> cached tokenized datasets -> train/valid corpora.
#include <cmath>
#include <cstdlib>

#include <unistd.h>

#include "distill/data/dataset.h"
#include "distill/data/shards.h"
#include "distill/data/sources.h"
#include "distill/data/tokenize.h"
#include "distill/models/registry.h"
#include "distill/util/errors.h"
#include "distill/util/files.h"
#include "distill/util/logging.h"
#include "distill/util/sha256.h"

namespace distill::data {
namespace {

std::string absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char* cwd = ::getcwd(nullptr, 0);
  const std::string dir = cwd ? cwd : ".";
  std::free(cwd);
  return files::join(dir, path);
}

// The corpus of one input list: its raw files tokenized into the cache, its dataset folders as they are.
Corpus corpus_of(const std::vector<std::string>& inputs, const char* kind, const config::DataConfig& data,
                 const tokenizer::Tokenizer& tok, const std::string& cache_root, std::int64_t context,
                 unsigned threads, std::vector<BuildResult>* builds) {
  const ExpandedInputs in = expand_inputs(inputs);
  Corpus corpus;
  if (!in.files.empty()) {
    BuildOptions o = build_options(data, context);
    o.threads = threads;
    if (std::string(kind) != "train") o.augment.command.clear();  // augmentation is for training data only
    o.inputs.clear();
    for (const auto& f : in.files) o.inputs.push_back(f.path);
    // The folder name covers the inputs as given (absolute), the tokenizer and the content options;
    // the build key inside also covers sizes and mtimes, so a changed file rebuilds in place.
    Json id;
    std::vector<std::string> given;
    for (const auto& i : inputs) given.push_back(absolute(i));
    id["inputs"] = given;
    id["tokenizer"] = tok.fingerprint();
    id["max_tokens"] = o.max_tokens;
    id["options"] = {data.text_field, data.label_field, data.txt_mode, data.invalid_utf8, data.add_special_tokens,
                     data.long_samples, data.keep_text, data.augment.command, data.augment.shell};
    o.output_dir = files::join(cache_root, std::string(kind) + "-" + sha256_hex(id.dump()).substr(0, 16));
    if (!o.augment.command.empty()) o.augment.cache_file = files::join(cache_root, "augment-cache.jsonl");
    BuildResult r = build_dataset(tok, o);
    corpus.add(Dataset::open(r.dir));
    builds->push_back(std::move(r));
  }
  for (const auto& dir : in.datasets) {
    auto ds = Dataset::open(dir);
    if (ds->tokenizer_fingerprint() != tok.fingerprint()) {
      throw InputError(dir, "was tokenized with another tokenizer (fingerprint " + ds->tokenizer_fingerprint() +
                                ") than the one in use, " + tok.source() + " (" + tok.fingerprint() + ")",
                       "list the raw files instead, or tokenize them again with this tokenizer");
    }
    corpus.add(ds);
  }
  return corpus;
}

}  // namespace

std::int64_t length_limit(double ratio, std::int64_t context) {
  if (context <= 0) return 0;
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::floor(ratio * static_cast<double>(context))));
}

std::int64_t model_context(const config::Config& config) {
  const std::string& dir = config.teacher ? config.teacher->path : config.student.path;
  return models::read_spec(dir).max_positions;
}

std::string cache_root(const config::Config& config) {
  return config.data.cache_dir.empty() ? files::join(config.checkpoint.dir, "data") : config.data.cache_dir;
}

BuildOptions build_options(const config::DataConfig& data, std::int64_t context) {
  BuildOptions o;
  o.read.text_field = data.text_field;
  o.read.label_field = data.label_field;
  o.read.paragraphs = data.txt_mode == "paragraph";
  o.read.skip_invalid_utf8 = data.invalid_utf8 == "skip";
  o.add_special_tokens = data.add_special_tokens;
  o.max_tokens = length_limit(data.max_length_ratio, context);
  o.cut_long = data.long_samples == "cut";
  o.keep_text = data.keep_text;
  o.augment.command = data.augment.command;
  o.augment.shell = data.augment.shell;
  o.augment.timeout_s = data.augment.timeout_s;
  return o;
}

LoaderOptions loader_options(const config::Config& config, bool train) {
  LoaderOptions o;
  o.seq_len = config.data.seq_len;
  o.micro_batch = config.train.micro_batch;
  o.packing = config.data.packing;
  o.shuffle = train && config.data.shuffle;
  o.seed = config.data.seed;
  o.repeat = train;
  o.split_long = config.data.long_samples == "split";
  o.prefetch = config.data.prefetch;
  o.pin_memory = config.train.device != "cpu";
  return o;
}

PreparedData prepare_data(const config::DataConfig& data, const tokenizer::Tokenizer& tok,
                          const std::string& cache_root, std::int64_t context, unsigned threads) {
  PreparedData p;
  p.train = corpus_of(data.train, "train", data, tok, cache_root, context, threads, &p.builds);
  if (!data.valid.empty()) {
    p.valid = corpus_of(data.valid, "valid", data, tok, cache_root, context, threads, &p.builds);
  } else if (data.valid_fraction > 0) {
    const std::int64_t n = p.train.num_documents();
    if (n < 2) {
      throw InputError("", "data.valid_fraction needs at least 2 training documents, the data has " + std::to_string(n),
                       "add data or list validation files in data.valid");
    }
    std::int64_t held = static_cast<std::int64_t>(std::llround(data.valid_fraction * static_cast<double>(n)));
    held = std::min(std::max<std::int64_t>(held, 1), n - 1);
    std::int64_t boundary = n - held;
    // Keep a document's pieces and augmentations with it: the boundary moves back to the start
    // of the group it falls in (so validation gets at least the fraction asked for).
    while (boundary > 0) {
      const auto [ds, local] = p.train.locate(boundary);
      if (!(ds->flags(local) & (kFlagAugmented | kFlagContinuation))) break;
      --boundary;
    }
    if (boundary == 0) {
      throw InputError("", "data.valid_fraction leaves no training document: the held-out part reaches back to the "
                           "first document (with its pieces and augmentations)",
                       "lower data.valid_fraction or list files in data.valid");
    }
    p.valid = p.train.slice(boundary, n);
    p.train = p.train.slice(0, boundary);
    log::info("data: holding out the last {} of {} training documents for validation (data.valid_fraction = {})",
              n - boundary, n, data.valid_fraction);
  }
  return p;
}

}  // namespace distill::data
