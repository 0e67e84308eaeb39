// Raw text -> tokenized dataset folder (distill tokenize), and the entry point the trainer uses to
// get its train/validation corpora from data.* (tokenizing into a cache on first use).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "distill/config/config.h"
#include "distill/data/augment.h"
#include "distill/data/corpus.h"
#include "distill/data/documents.h"
#include "distill/data/loader.h"
#include "distill/tokenizer/tokenizer.h"

namespace distill::data {

struct BuildOptions {
  std::vector<std::string> inputs;   // files, globs, folders (not tokenized dataset folders)
  std::string output_dir;            // the dataset folder to write (replaced atomically)
  ReadOptions read;
  bool add_special_tokens = true;    // the tokenizer's post-processor (LLaMA's BOS)
  std::int64_t max_tokens = 0;       // the length limit; 0: none
  bool cut_long = false;             // over the limit: false = split into pieces, true = keep the first piece
  bool keep_text = true;             // store the text (cross-tokenizer)
  std::uint64_t shard_tokens = std::uint64_t(1) << 28;  // tokens per shard (a document never spans two)
  unsigned threads = 0;              // encoding threads; 0: every core
  AugmentOptions augment;            // command empty: no augmentation
  double progress_every_s = 30;      // plain progress lines when stderr is not a terminal
  bool force = false;                // rebuild even when up to date
};

struct BuildResult {
  std::string dir;
  bool rebuilt = false;              // false: it was up to date (a no-op)
  nlohmann::ordered_json meta;       // meta.json as written (or found)
  std::string report;                // the data report as text (empty for a no-op)
};

// Tokenizes the inputs into options.output_dir unless it already holds a dataset with the same
// build key (tokenizer fingerprint, content options, and every source's path, size and mtime).
// Written into a temporary folder beside it and swapped in atomically; concurrent builds into the
// same parent folder wait for each other (flock). Logs the skip summary and warnings (over-limit
// documents, skewed labels); the report text is in the result.
// Errors: inputs that cannot be used (missing, unknown format, tokenized folders) and a dataset
// that ends up with no documents are InputError (exit 3) naming them; output failures OutputError.
BuildResult build_dataset(const tokenizer::Tokenizer& tokenizer, const BuildOptions& options);

// floor(ratio * context); 0 when the context is unknown (0).
std::int64_t length_limit(double ratio, std::int64_t context);

// The context window the length limit refers to: the teacher's (or without one, the student's)
// config.json context length. InputError from the model folder when it cannot be read.
std::int64_t model_context(const config::Config& config);

// data.cache_dir, else <checkpoint.dir>/data.
std::string cache_root(const config::Config& config);

// BuildOptions from data.* (inputs and output_dir left empty).
BuildOptions build_options(const config::DataConfig& data, std::int64_t context);

// The loader's options from the config (train: data.shuffle etc.; validation: in file order, one pass).
LoaderOptions loader_options(const config::Config& config, bool train);

struct PreparedData {
  Corpus train;
  std::optional<Corpus> valid;       // data.valid, else the data.valid_fraction tail, else none
  std::vector<BuildResult> builds;   // the cache folders built or found
};

// What the trainer calls: the tokenized corpora for data.train and data.valid. Raw inputs of each
// list are tokenized (once; later calls are no-ops) into <cache_root>/<train|valid>-<hash>, where
// the hash covers the inputs as given, the tokenizer and the content options; tokenized dataset
// folders in the lists are used as they are (they must come from the same tokenizer). Documents
// over data.max_length_ratio * context tokens are split or cut (context: model_context()).
PreparedData prepare_data(const config::DataConfig& data, const tokenizer::Tokenizer& tokenizer,
                          const std::string& cache_root, std::int64_t context, unsigned threads = 0);

}  // namespace distill::data
