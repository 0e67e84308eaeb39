// The run configuration: typed structs with defaults, parsed from JSON (plus --set overrides) by one
// table of keys that also drives validation, "did you mean" suggestions and docs/config.md.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace distill::config {

// Config documents keep their keys in the order written (schema order for to_json), so the resolved
// config reads like docs/config.md and errors are found in document order.
using Json = nlohmann::ordered_json;

// Key names follow issue #5's fixed list; later issues add keys (to the table in src/config/schema.cpp,
// which is what parses, checks, prints and documents them).

// student.init: where the student's weights come from. Written as a string it is just `from`
// ("init": "random"); as an object, `from: "teacher"` builds the student from the teacher first
// (the keys mirror `distill init-student`'s flags; docs/student-init.md).
struct StudentInitConfig {
  std::string from = "pretrained";        // pretrained | random | teacher
  std::int64_t layers = 0;                // 0 = the teacher's
  std::vector<std::int64_t> keep_layers;  // explicit teacher layers; empty = chosen by layer_selection
  std::string layer_selection = "auto";   // auto | uniform | importance
  std::int64_t heads = 0;                 // 0 = the teacher's (also kv_heads, hidden, intermediate)
  std::int64_t kv_heads = 0;
  std::int64_t hidden = 0;
  std::int64_t intermediate = 0;
  std::string calibration;                // JSONL of input_ids or text; empty = none
  std::int64_t calibration_samples = 256;
  std::int64_t calibration_seq_len = 512;
  bool random = false;                    // the teacher-derived shape with random weights
};

struct ModelConfig {
  std::string path;                 // HF model folder (config.json + *.safetensors + tokenizer)
  std::string dtype = "bf16";       // fp32 | bf16 | fp16: dtype the weights are held in
  std::string tokenizer;            // tokenizer file or folder; empty = the model folder
  StudentInitConfig init;           // the teacher uses only init.from (pretrained | random)
  std::string offload = "none";     // teacher only: none | layers (stream layers from pinned host memory)
  std::int64_t offload_layers = 0;  // teacher only, with offload = layers: how many layers stream; 0 = all
};

// The student keeps fp32 master weights unless told otherwise.
inline ModelConfig student_model_defaults() {
  ModelConfig m;
  m.dtype = "fp32";
  return m;
}

// data.augment.*: documents piped through a user command (docs/data.md, "Augmentation").
struct AugmentConfig {
  std::vector<std::string> command;  // argv (run without a shell); empty = no augmentation
  bool shell = false;                // command is one string run by /bin/sh -c
  double timeout_s = 60.0;           // seconds the command may go without reading or answering
};

struct DataConfig {
  std::vector<std::string> train;   // .txt / .jsonl / .json files, globs, directories, or tokenized dataset dirs
  std::vector<std::string> valid;   // optional held-out data (same forms)
  double valid_fraction = 0.0;      // without data.valid: the last fraction of the training documents
  std::string text_field = "text";  // JSONL field holding the text
  std::string label_field;          // JSONL field holding a class label (data report); empty = none
  std::string txt_mode = "line";    // line | paragraph: how .txt files are cut into documents
  std::int64_t seq_len = 2048;      // tokens per training sequence
  bool shuffle = true;              // deterministic shuffling by data.seed
  bool packing = true;              // pack documents into full sequences (joined by EOS)
  std::int64_t seed = 1234;         // shuffling seed
  bool add_special_tokens = true;   // what the tokenizer's post-processor adds (LLaMA's BOS)
  double max_length_ratio = 0.8;    // documents over this share of the teacher's context are split or cut
  std::string long_samples = "split";  // split | cut
  std::string invalid_utf8 = "repair"; // repair (U+FFFD) | skip
  bool keep_text = true;            // store document text beside the tokens (cross-tokenizer)
  std::string cache_dir;            // tokenized datasets; empty = <checkpoint.dir>/data
  std::int64_t prefetch = 2;        // batches prepared ahead on a background thread; 0 = none
  AugmentConfig augment;
};

struct LossConfig {
  std::string kind = "forward_kl";  // forward_kl | reverse_kl | jsd | ce
  double temperature = 2.0;         // T: softens both distributions; the KD term is scaled by T^2
  double alpha = 0.5;               // weight of the KD term; (1 - alpha) weights cross-entropy
  double beta = 0.5;                // JSD mixing weight (0 = forward KL, 1 = reverse KL)
  std::int64_t chunk_tokens = 1024; // tokens per chunk of the fused LM-head + loss (~6 x chunk x V fp32 scratch)
  std::string cross_tokenizer = "none";  // none | transplant | align
  std::string transplant_new_rows = "low";  // pieces | mean | low (xtok::NewRows)
};

struct OptimConfig {
  double lr = 1e-4;                 // peak learning rate
  std::vector<double> betas = {0.9, 0.999};  // AdamW beta1, beta2
  double eps = 1e-8;
  double weight_decay = 0.01;
  bool decay_norms_and_biases = false;  // false: norms and biases are exempt from weight decay
  double grad_clip = 1.0;           // max global gradient norm; 0 = off
};

struct ScheduleConfig {
  std::int64_t warmup_steps = 100;  // linear warmup from 0 to optim.lr
  std::string decay = "cosine";     // cosine | linear | constant (after warmup)
  double min_lr_ratio = 0.1;        // final lr = optim.lr * min_lr_ratio
};

struct TrainConfig {
  std::string device = "auto";      // auto | cpu | cuda | cuda:N (auto: cuda when available)
  std::string precision = "bf16";   // bf16 | fp16 | fp32 (student compute; master weights stay fp32)
  std::int64_t micro_batch = 4;     // sequences per forward/backward
  std::int64_t grad_accum = 1;      // micro-batches per optimizer step
  std::int64_t max_steps = 1000;    // optimizer steps
  bool grad_checkpointing = false;  // recompute each student layer in backward
  bool auto_micro_batch = false;    // on OOM halve micro_batch, double grad_accum, continue
  bool overlap_teacher = false;     // CUDA: teacher forward on a second stream beside the student
  std::int64_t max_nonfinite_steps = 5;  // consecutive non-finite losses before stopping (exit 1)
  std::int64_t log_every = 10;      // optimizer steps between log lines / metrics rows
  std::int64_t eval_every = 0;      // steps between validation runs; 0 = only at the end
  bool eval_at_start = false;       // also validate the untrained student (step 0) on a fresh start
  bool profile = false;             // time each phase of a step (synchronising) and print the split
  std::int64_t trace_steps = 0;     // steps recorded in <run>/trace.json (PyTorch profiler); 0 = none
  double gpu_memory_gib = 0.0;      // cap on the CUDA caching allocator (GiB); 0 = the whole GPU
  std::int64_t seed = 1234;         // model init / dropout / sampling seed
};

struct CheckpointConfig {
  std::string dir = "runs/distill"; // the run directory: checkpoints, metrics.jsonl, lock, log
  std::int64_t every_steps = 500;   // optimizer steps between checkpoints; 0 = only at the end
  std::int64_t keep_last = 3;       // checkpoints kept (older ones deleted after a good save)
};

struct Config {
  std::optional<ModelConfig> teacher;  // null/absent allowed only for loss.kind = "ce"
  ModelConfig student = student_model_defaults();
  DataConfig data;
  LossConfig loss;
  OptimConfig optim;
  ScheduleConfig schedule;
  TrainConfig train;
  CheckpointConfig checkpoint;
};

// Key by key through the table (a present teacher equals only a present teacher).
bool operator==(const Config& a, const Config& b);
inline bool operator!=(const Config& a, const Config& b) { return !(a == b); }

// One documented key of the schema (for docs/config.md and `distill train --help-config`).
struct KeyDoc {
  std::string path;        // "train.micro_batch"
  std::string type;        // "integer", "number", "boolean", "string", "list of strings", ...
  std::string default_value;  // JSON text of the default ("4", "\"bf16\"", "[]")
  std::string constraint;  // ">= 1", "one of: cosine, linear, constant", "required", or empty
  std::string description;
};

// Every key, in schema order.
const std::vector<KeyDoc>& key_docs();

// Reads and parses a JSON config file; malformed JSON, a missing file, a duplicated key or a
// non-object top level is a UsageError naming the file (and line/column for syntax errors).
Json read_json_file(const std::string& path);

// Applies one "--set a.b.c=value" override to `root` and returns its path ("a.b.c"). The value is
// parsed as JSON when it is valid JSON (numbers, true/false, null, "quoted", [lists], {objects}),
// otherwise taken as a plain string. Missing or null sections on the way are created. A malformed
// assignment (no '=', empty key or path component) or a path through a non-section value is a
// UsageError.
std::string apply_override(Json& root, const std::string& assignment);

// Builds a Config from JSON: defaults for absent keys; an unknown key is a UsageError naming its JSON
// path and the closest known key; a wrong type or an out-of-range value names the path, what was
// expected and what was given. `source` (the file name) prefixes messages; errors at or under a path
// in `overridden` (as returned by apply_override) say "(from --set)". Runs validate().
Config parse(const Json& root, const std::string& source, const std::vector<std::string>& overridden = {});

// read_json_file + apply_override for each assignment, in order + parse: what `distill train` does.
Config load(const std::string& path, const std::vector<std::string>& assignments = {});

// Cross-key checks (a teacher unless loss.kind is "ce", required keys, warmup within max_steps, ...).
// Throws UsageError saying what to change.
void validate(const Config& config);

// The resolved config, every key present in schema order (what `distill train --dry-run` prints);
// an absent teacher is null. parse(to_json(c)) == c.
Json to_json(const Config& config);

// Markdown for docs/config.md (one table per section), generated from the key table; a test keeps
// the committed file in sync.
std::string docs_markdown();

}  // namespace distill::config
