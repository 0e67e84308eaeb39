// `distill tokenize`: raw text -> tokenized dataset folders, from a config (data.* and the student's
// tokenizer, into the cache distill train reads) or from flags.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "distill/cli/commands.h"
#include "distill/config/config.h"
#include "distill/data/tokenize.h"
#include "distill/models/registry.h"
#include "distill/tokenizer/tokenizer.h"
#include "distill/util/errors.h"
#include "distill/util/files.h"
#include "distill/util/logging.h"

namespace distill::cli {
namespace {

struct TokenizeCliOptions {
  std::string config_path;
  std::vector<std::string> overrides;
  std::string tokenizer;
  std::vector<std::string> inputs;
  std::string output;
  std::string text_field = "text";
  std::string label_field;
  bool paragraphs = false;
  unsigned threads = 0;
  std::int64_t context = 0;
  double max_length_ratio = 0.8;
  std::string long_samples = "split";
  std::string invalid_utf8 = "repair";
  bool no_text = false;
  bool no_special_tokens = false;
  std::uint64_t shard_tokens = std::uint64_t(1) << 28;
  bool force = false;
  double progress_every = 30;
};

void print_result(const data::BuildResult& r) {
  const auto& c = r.meta.at("counts");
  std::cout << (r.rebuilt ? "tokenized " : "up to date (nothing to do): ") << r.dir << "\n"
            << "  " << c.at("documents").get<std::int64_t>() << " documents, " << c.at("tokens").get<std::int64_t>()
            << " tokens (" << r.meta.at("dtype").get<std::string>() << "), tokenizer "
            << r.meta.at("tokenizer").at("fingerprint").get<std::string>() << "\n";
  if (!r.report.empty()) std::cout << r.report;
  std::int64_t skipped = 0;
  std::string reasons;
  for (const auto& [reason, n] : c.at("skipped").items()) {
    skipped += n.get<std::int64_t>();
    reasons += (reasons.empty() ? "" : ", ") + std::to_string(n.get<std::int64_t>()) + " " + reason;
  }
  std::cout << "  skipped: " << (skipped ? std::to_string(skipped) + " (" + reasons + ")" : std::string("none"))
            << "; repaired (invalid UTF-8): " << c.at("repaired_utf8").get<std::int64_t>() << "\n";
}

// The context window for the length limit in flag mode: --context, else the tokenizer folder's config.json.
std::int64_t flag_context(const TokenizeCliOptions& o) {
  if (o.context > 0) return o.context;
  const std::string dir = files::is_directory(o.tokenizer) ? o.tokenizer : files::parent(o.tokenizer);
  if (!files::exists(files::join(dir, "config.json"))) {
    log::info("tokenize: no length limit (no --context and no config.json beside the tokenizer)");
    return 0;
  }
  try {
    return models::read_spec(dir).max_positions;
  } catch (const InputError& e) {
    log::warn("tokenize: no length limit: cannot read the context window from {}: {}", dir, e.what());
    return 0;
  }
}

int run_from_config(const TokenizeCliOptions& o) {
  const config::Config cfg = config::load(o.config_path, o.overrides);
  const std::string tok_path = cfg.student.tokenizer.empty() ? cfg.student.path : cfg.student.tokenizer;
  const auto tok = tokenizer::load_tokenizer(tok_path);
  if (cfg.teacher) {
    const std::string teacher_tok = cfg.teacher->tokenizer.empty() ? cfg.teacher->path : cfg.teacher->tokenizer;
    const auto t = tokenizer::load_tokenizer(teacher_tok);
    if (t->fingerprint() != tok->fingerprint()) {
      log::info("tokenize: teacher and student tokenizers differ; the data is tokenized with the student's ({}), "
                "the teacher's tokens come from the stored text (loss.cross_tokenizer)", tok_path);
      if (!cfg.data.keep_text) log::warn("tokenize: data.keep_text is false: the teacher cannot re-tokenize the text");
    }
  }
  const std::int64_t context = data::model_context(cfg);
  log::info("tokenize: length limit {} tokens ({} x the context window of {})",
            data::length_limit(cfg.data.max_length_ratio, context), cfg.data.max_length_ratio, context);
  const auto prepared = data::prepare_data(cfg.data, *tok, data::cache_root(cfg), context, o.threads);
  for (const auto& r : prepared.builds) print_result(r);
  if (prepared.builds.empty()) std::cout << "nothing to tokenize: data.train and data.valid name tokenized folders\n";
  return 0;
}

int run_from_flags(const TokenizeCliOptions& o) {
  if (o.tokenizer.empty()) throw UsageError("tokenize: --tokenizer is required without --config");
  if (o.inputs.empty()) throw UsageError("tokenize: --input is required without --config", "--input FILE (repeatable)");
  if (o.output.empty()) throw UsageError("tokenize: --output is required without --config", "--output DIR");
  const auto tok = tokenizer::load_tokenizer(o.tokenizer);
  data::BuildOptions b;
  b.inputs = o.inputs;
  b.output_dir = o.output;
  b.read.text_field = o.text_field;
  b.read.label_field = o.label_field;
  b.read.paragraphs = o.paragraphs;
  b.read.skip_invalid_utf8 = o.invalid_utf8 == "skip";
  b.add_special_tokens = !o.no_special_tokens;
  b.max_tokens = data::length_limit(o.max_length_ratio, flag_context(o));
  b.cut_long = o.long_samples == "cut";
  b.keep_text = !o.no_text;
  b.shard_tokens = o.shard_tokens;
  b.threads = o.threads;
  b.progress_every_s = o.progress_every;
  b.force = o.force;
  print_result(data::build_dataset(*tok, b));
  return 0;
}

}  // namespace

Command add_tokenize(CLI::App& root) {
  auto o = std::make_shared<TokenizeCliOptions>();
  CLI::App* sub = root.add_subcommand("tokenize", "tokenize a text corpus into token shards (docs/data.md)");
  sub->add_option("--config", o->config_path,
                  "a training config: tokenizes data.train and data.valid with the student's tokenizer into the "
                  "cache distill train reads (data.cache_dir, else <checkpoint.dir>/data)");
  sub->add_option("--set", o->overrides, "override a config key (with --config), e.g. --set data.seq_len=512");
  sub->add_option("--tokenizer", o->tokenizer, "model folder or tokenizer file (without --config)");
  sub->add_option("--input", o->inputs, "a .txt/.jsonl/.json file, a glob or a folder (repeatable)");
  sub->add_option("--output", o->output, "the dataset folder to write (replaced atomically)");
  sub->add_option("--text-field", o->text_field, "the JSON field that holds the text (default: text)");
  sub->add_option("--label-field", o->label_field, "a JSON field with a class label, for the report's entropy");
  sub->add_flag("--paragraphs", o->paragraphs, ".txt files: blank-line separated documents instead of lines");
  sub->add_option("--threads", o->threads, "encoding threads (default 0: every core)");
  sub->add_option("--context", o->context,
                  "the teacher's context window for the length limit (default: config.json beside the tokenizer; "
                  "none: no limit)");
  sub->add_option("--max-length-ratio", o->max_length_ratio, "length limit as a share of --context (default 0.8)")
      ->check(CLI::Range(1e-9, 1.0));
  sub->add_option("--long-samples", o->long_samples, "documents over the limit: split (default) or cut")
      ->check(CLI::IsMember({"split", "cut"}));
  sub->add_option("--invalid-utf8", o->invalid_utf8, "repair (U+FFFD, default) or skip")
      ->check(CLI::IsMember({"repair", "skip"}));
  sub->add_flag("--no-text", o->no_text, "do not store the documents' text (saves space; no cross-tokenizer use)");
  sub->add_flag("--no-special-tokens", o->no_special_tokens, "do not add what the tokenizer adds (e.g. LLaMA's BOS)");
  sub->add_option("--shard-tokens", o->shard_tokens, "tokens per shard file (default 268435456)")
      ->check(CLI::PositiveNumber);
  sub->add_flag("--force", o->force, "rebuild even when the output is up to date");
  sub->add_option("--progress-every", o->progress_every,
                  "seconds between progress lines when stderr is not a terminal (default 30)");
  Command cmd;
  cmd.app = sub;
  cmd.run = [o]() -> int {
    if (!o->config_path.empty()) {
      if (!o->tokenizer.empty() || !o->inputs.empty() || !o->output.empty()) {
        throw UsageError("tokenize: --config takes the tokenizer, inputs and output folder from the config",
                         "drop --tokenizer/--input/--output, or drop --config");
      }
      return run_from_config(*o);
    }
    if (!o->overrides.empty()) throw UsageError("tokenize: --set needs --config");
    return run_from_flags(*o);
  };
  return cmd;
}

}  // namespace distill::cli
