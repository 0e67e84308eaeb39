// THE config key table: every key's section, name, binding, constraint and description. Parsing,
// checks, suggestions, to_json and docs/config.md are all driven from here.
#include "schema.h"

#include <cctype>

#include "text.h"

namespace distill::config::schema {
namespace {

// ---- constraint builders, so the table reads as a sentence per key

Constraint at_least(double min) {
  Constraint c;
  c.range.min = min;
  return c;
}

Constraint above(double min) {
  Constraint c;
  c.range.min = min;
  c.range.min_open = true;
  return c;
}

Constraint between(double min, double max) {
  Constraint c;
  c.range.min = min;
  c.range.max = max;
  return c;
}

// [min, max)
Constraint half_open(double min, double max) {
  Constraint c = between(min, max);
  c.range.max_open = true;
  return c;
}

// (min, max]
Constraint between_open_closed(double min, double max) {
  Constraint c = between(min, max);
  c.range.min_open = true;
  return c;
}

Constraint one_of(std::vector<std::string> choices) {
  Constraint c;
  c.choices = std::move(choices);
  return c;
}

Constraint non_empty() {
  Constraint c;
  c.non_empty = true;
  return c;
}

Constraint required() {
  Constraint c;
  c.non_empty = true;
  c.required = true;
  return c;
}

Constraint none() { return {}; }

// optim.betas: two numbers, each in [0, 1).
Constraint beta_pair() {
  Constraint c;
  c.length = 2;
  c.range.min = 0;
  c.range.max = 1;
  c.range.max_open = true;
  return c;
}

bool is_device(const std::string& s) {
  if (s == "auto" || s == "cpu" || s == "cuda") return true;
  if (s.rfind("cuda:", 0) != 0 || s.size() == 5) return false;
  for (std::size_t i = 5; i < s.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

Constraint device() {
  Constraint c;
  c.accepts = is_device;
  c.accepts_text = "auto, cpu, cuda or cuda:N";
  return c;
}

const std::vector<std::string> kDtypes = {"fp32", "bf16", "fp16"};

// KEY(train, micro_batch) -> "train", "micro_batch", a binder to &config.train.micro_batch: the path
// is spelled once, so a key's name and its member cannot drift apart. A dotted name
// (KEY(data, augment.command)) is a key inside a nested object: {"data": {"augment": {"command": ...}}}.
#define KEY(section, name) #section, #name, [](Config& c) -> Target { return &c.section.name; }
#define OPTIONAL_KEY(section, name) #section, #name, [](Config& c) -> Target { return &c.section->name; }

std::vector<Key> make_keys() {
  return {
      // ---- teacher (optional)
      {OPTIONAL_KEY(teacher, path), required(),
       "the teacher: a Hugging Face model folder (config.json, *.safetensors, tokenizer files)"},
      {OPTIONAL_KEY(teacher, dtype), one_of(kDtypes), "dtype the teacher's weights are held and run in"},
      {OPTIONAL_KEY(teacher, offload), one_of({"none", "layers"}),
       "none: the whole teacher on the GPU; layers: its decoder layers stay in pinned host memory and are "
       "copied to the GPU one at a time during its forward, overlapped with compute (a 7B bf16 teacher then "
       "takes about 3 GB of GPU memory instead of 15; CUDA only; docs/training.md)"},
      {OPTIONAL_KEY(teacher, offload_layers), at_least(0),
       "with offload = layers: how many decoder layers stay in host memory, spread evenly through the stack "
       "(the others stay on the GPU); a few cost two layers of GPU memory and, while the host link keeps up, no "
       "time; 0: all"},
      {OPTIONAL_KEY(teacher, tokenizer), none(),
       "tokenizer file or folder when it is not in the model folder; empty: the model folder"},
      {OPTIONAL_KEY(teacher, init.from), one_of({"pretrained", "random"}),
       "pretrained: load the folder's weights; random: config.json alone, initialised as transformers does for "
       "its family, seeded by train.seed (for throughput benchmarks at real shapes: a random teacher teaches "
       "nothing). \"init\": \"random\" is short for {\"from\": \"random\"}",
       /*shorthand=*/true},
      // ---- student
      {KEY(student, path), required(),
       "the student to train: a Hugging Face model folder (config.json, *.safetensors, tokenizer files)"},
      {KEY(student, dtype), one_of(kDtypes),
       "dtype of the student's master weights (compute precision is train.precision)"},
      {KEY(student, tokenizer), none(),
       "tokenizer file or folder when it is not in the model folder; empty: the model folder"},
      {KEY(student, init.from), one_of({"pretrained", "random", "teacher"}),
       "pretrained: load the folder's weights; random: build the model from its config.json alone, "
       "initialised as transformers does for its family (seeded by train.seed); teacher: first build "
       "student.path from the teacher with the keys below (distill init-student; docs/student-init.md). "
       "\"init\": \"random\" is short for {\"from\": \"random\"}",
       /*shorthand=*/true},
      {KEY(student, init.layers), at_least(0), "from teacher: decoder layers kept; 0: all"},
      {KEY(student, init.keep_layers), at_least(0),
       "from teacher: exactly these teacher layers (ascending); empty: chosen by init.layer_selection"},
      {KEY(student, init.layer_selection), one_of({"auto", "uniform", "importance"}),
       "from teacher: uniform (evenly spaced, first and last kept) or importance (block influence on "
       "init.calibration); auto: importance when init.calibration is set"},
      {KEY(student, init.heads), at_least(0), "from teacher: attention (query) heads per layer; 0: the teacher's"},
      {KEY(student, init.kv_heads), at_least(0),
       "from teacher: key/value heads per layer (a removed one takes its query group); 0: the teacher's"},
      {KEY(student, init.hidden), at_least(0), "from teacher: residual-stream width (hidden_size); 0: the teacher's"},
      {KEY(student, init.intermediate), at_least(0), "from teacher: MLP width; 0: the teacher's"},
      {KEY(student, init.calibration), none(),
       "from teacher: JSONL ({\"input_ids\": [...]} or {\"text\": \"...\"} per line) the importances are "
       "measured on; needed to prune width"},
      {KEY(student, init.calibration_samples), at_least(1), "from teacher: calibration lines used"},
      {KEY(student, init.calibration_seq_len), at_least(1), "from teacher: tokens per calibration sequence"},
      {KEY(student, init.random), none(),
       "from teacher: the shape alone, with random weights (seeded by train.seed): the baseline"},
      // ---- data
      {KEY(data, train), required(),
       "training data: .txt or .jsonl files, globs, directories, or tokenized shard directories"},
      {KEY(data, valid), none(),
       "held-out data for validation (same forms); empty: data.valid_fraction of data.train, or none"},
      {KEY(data, valid_fraction), half_open(0, 1),
       "without data.valid: the last fraction of the training documents (file order) is held out"},
      {KEY(data, text_field), non_empty(), "the JSON field that holds the text"},
      {KEY(data, label_field), none(),
       "a JSON field holding a class label: the data report gives the class-distribution entropy"},
      {KEY(data, txt_mode), one_of({"line", "paragraph"}),
       ".txt files: one document per line, or per paragraph (blank-line separated)"},
      {KEY(data, seq_len), at_least(1), "tokens per training sequence"},
      {KEY(data, shuffle), none(), "shuffle sequences (deterministically, by data.seed; a new order each epoch)"},
      {KEY(data, packing), none(),
       "pack documents into full sequences, joined by EOS; false: one padded sample per document"},
      {KEY(data, seed), at_least(0), "shuffling seed"},
      {KEY(data, add_special_tokens), none(),
       "add what the tokenizer's post-processor adds to each document (LLaMA's BOS; nothing for GPT-2, Qwen)"},
      {KEY(data, max_length_ratio), between_open_closed(0, 1),
       "documents longer than this share of the teacher's context window are split or cut"},
      {KEY(data, long_samples), one_of({"split", "cut"}),
       "what happens to a document over the length limit: split into pieces, or cut (rest dropped)"},
      {KEY(data, invalid_utf8), one_of({"repair", "skip"}),
       "documents with invalid UTF-8: repair (each bad sequence becomes U+FFFD) or skip"},
      {KEY(data, keep_text), none(),
       "store each document's text beside its tokens (needed to re-tokenize for a second tokenizer)"},
      {KEY(data, cache_dir), none(), "where tokenized datasets are kept; empty: <checkpoint.dir>/data"},
      {KEY(data, prefetch), at_least(0), "batches prepared ahead on a background thread; 0: none"},
      {KEY(data, augment.command), none(),
       "augmentation: a command (argv list, no shell) that turns documents into extra documents; "
       "empty: off"},
      {KEY(data, augment.shell), none(), "run data.augment.command (one string) with /bin/sh -c"},
      {KEY(data, augment.timeout_s), above(0),
       "seconds the augmentation command may go without reading input or answering before it is killed"},
      // ---- loss
      {KEY(loss, kind), one_of({"forward_kl", "reverse_kl", "jsd", "ce"}),
       "forward_kl: KL(teacher || student), the classic KD loss; reverse_kl: KL(student || teacher); "
       "jsd: Jensen-Shannon mix by loss.beta; ce: plain LM training, no teacher"},
      {KEY(loss, temperature), above(0), "T: softens both distributions; the KD term is scaled by T^2"},
      {KEY(loss, alpha), between(0, 1), "weight of the KD term; (1 - alpha) weights the cross-entropy"},
      {KEY(loss, beta), between(0, 1), "JSD mixing weight (0: forward KL, 1: reverse KL)"},
      {KEY(loss, chunk_tokens), at_least(1),
       "tokens per chunk of the fused LM head + loss; lower it to save memory"},
      {KEY(loss, cross_tokenizer), one_of({"none", "transplant", "align"}),
       "teacher and student with different tokenizers (docs/cross-tokenizer.md): none (they must match), "
       "transplant (the student takes the teacher's vocabulary) or align (byte-aligned rows, "
       "shared-vocabulary divergence + ULD)"},
      {KEY(loss, transplant_new_rows), one_of({"pieces", "mean", "low"}),
       "transplant: how the rows of teacher tokens that are not one student token start. pieces: the mean of "
       "the student's rows for the token's pieces; mean: LM-head rows start at the mean of all rows, so new "
       "tokens start with low output probability; low: the mean row moved against the mean final hidden state "
       "of 4096 training tokens, as far as minimises their cross-entropy, so new tokens start with about their "
       "share of the text's probability (a tied embedding follows the head; an untied one keeps the pieces' "
       "mean). docs/cross-tokenizer.md"},
      // ---- optim
      {KEY(optim, lr), above(0), "peak learning rate (AdamW)"},
      {KEY(optim, betas), beta_pair(), "AdamW beta1 and beta2"},
      {KEY(optim, eps), above(0), "AdamW epsilon"},
      {KEY(optim, weight_decay), at_least(0), "AdamW decoupled weight decay"},
      {KEY(optim, decay_norms_and_biases), none(),
       "apply weight decay to norm weights and biases too (false: they are exempt)"},
      {KEY(optim, grad_clip), at_least(0), "max global gradient norm; 0: no clipping"},
      // ---- schedule
      {KEY(schedule, warmup_steps), at_least(0), "optimizer steps of linear warmup from 0 to optim.lr"},
      {KEY(schedule, decay), one_of({"cosine", "linear", "constant"}),
       "learning-rate decay after warmup, down to optim.lr * schedule.min_lr_ratio"},
      {KEY(schedule, min_lr_ratio), between(0, 1), "final learning rate as a fraction of optim.lr"},
      // ---- train
      {KEY(train, device), device(), "where to train; auto: cuda when a GPU is visible, else cpu"},
      {KEY(train, precision), one_of({"bf16", "fp16", "fp32"}),
       "student compute precision (master weights stay fp32); fp16 uses dynamic loss scaling"},
      {KEY(train, micro_batch), at_least(1), "sequences per forward/backward pass"},
      {KEY(train, grad_accum), at_least(1), "micro-batches accumulated per optimizer step"},
      {KEY(train, max_steps), at_least(1), "optimizer steps to train for"},
      {KEY(train, grad_checkpointing), none(),
       "recompute each student layer in backward (less memory, more time)"},
      {KEY(train, auto_micro_batch), none(),
       "on out-of-memory halve train.micro_batch, double train.grad_accum and continue"},
      {KEY(train, overlap_teacher), none(),
       "CUDA: run each teacher forward one micro-batch early (the next step's first during the step's last) on a "
       "second stream, beside the student's forward, loss, backward and optimizer step, whose stream goes first; "
       "the same losses, a few per cent faster on the H200 workloads (docs/benchmarks/train_h200.md)"},
      {KEY(train, max_nonfinite_steps), at_least(1),
       "consecutive non-finite losses (each step skipped) before the run stops"},
      {KEY(train, log_every), at_least(1), "optimizer steps between log lines and metrics.jsonl rows"},
      {KEY(train, eval_every), at_least(0), "optimizer steps between validation runs; 0: only at the end"},
      {KEY(train, eval_at_start), none(),
       "on a fresh start, also validate the student before its first step (logged as step 0)"},
      {KEY(train, profile), none(),
       "time each phase of every step (teacher forward, student forward, loss, backward, optimizer) with "
       "device synchronisation between them (slower), print the split and write profile.json to the run directory"},
      {KEY(train, trace_steps), at_least(0),
       "record this many steps, after up to 3 warm-up steps, in trace.json in the run directory: a Chrome/Perfetto "
       "trace of the host's operators and the device's kernels on each stream (the PyTorch profiler); 0: none"},
      {KEY(train, gpu_memory_gib), at_least(0),
       "cap on the GPU memory the run may allocate, in GiB (the CUDA caching allocator's memory fraction); "
       "0: the whole GPU. To check that a run fits a smaller GPU (e.g. 22 for a 24 GB card)"},
      {KEY(train, seed), at_least(0), "seed for initialisation, dropout and sampling"},
      // ---- checkpoint
      {KEY(checkpoint, dir), non_empty(),
       "the run directory: checkpoints, metrics.jsonl, the log, the lock and the resolved config"},
      {KEY(checkpoint, every_steps), at_least(0), "optimizer steps between checkpoints; 0: only at the end"},
      {KEY(checkpoint, keep_last), at_least(1), "checkpoints kept; older ones are deleted after a good save"},
  };
}

#undef KEY
#undef OPTIONAL_KEY

std::vector<Section> make_sections() {
  std::vector<Section> s = {
      {"teacher", "The model distilled from. Optional: null or absent only when loss.kind is \"ce\"."},
      {"student", "The model trained."},
      {"data", "Training and validation text, and how it becomes sequences."},
      {"loss", "The distillation loss: alpha * T^2 * KD + (1 - alpha) * CE."},
      {"optim", "AdamW."},
      {"schedule", "Learning-rate schedule: linear warmup, then decay."},
      {"train", "The training loop."},
      {"checkpoint", "The run directory and checkpoints."},
  };
  s[0].present = [](const Config& c) { return c.teacher.has_value(); };
  s[0].set_present = [](Config& c, bool on) {
    if (on && !c.teacher) c.teacher.emplace();
    if (!on) c.teacher.reset();
  };
  return s;
}

}  // namespace

std::string type_name(Type type) {
  switch (type) {
    case Type::kInteger: return "integer";
    case Type::kNumber: return "number";
    case Type::kBoolean: return "boolean";
    case Type::kString: return "string";
    case Type::kStringList: return "list of strings";
    case Type::kNumberList: return "list of numbers";
    case Type::kIntegerList: return "list of integers";
  }
  return "?";
}

std::string expected_text(Type type) {
  return (type == Type::kInteger ? "an " : "a ") + type_name(type);
}

bool Range::contains(double x) const {
  if (min && (min_open ? !(x > *min) : !(x >= *min))) return false;
  if (max && (max_open ? !(x < *max) : !(x <= *max))) return false;
  return true;
}

std::string Range::text() const {
  if (min && max) {
    return std::string("in ") + (min_open ? "(" : "[") + text::number(*min) + ", " + text::number(*max) +
           (max_open ? ")" : "]");
  }
  if (min) return (min_open ? "> " : ">= ") + text::number(*min);
  if (max) return (max_open ? "< " : "<= ") + text::number(*max);
  return {};
}

std::string Constraint::text() const {
  std::vector<std::string> parts;
  if (required) parts.push_back("required");
  else if (non_empty) parts.push_back("non-empty");
  if (!choices.empty()) parts.push_back("one of: " + text::join(choices, ", "));
  if (!accepts_text.empty()) parts.push_back(accepts_text);
  const std::string range_text = range.text();
  if (length) {
    parts.push_back(std::to_string(*length) + " elements" + (range_text.empty() ? "" : ", each " + range_text));
  } else if (!range_text.empty()) {
    parts.push_back(range_text);
  }
  return text::join(parts, "; ");
}

const std::vector<Section>& sections() {
  static const std::vector<Section> all = make_sections();
  return all;
}

const std::vector<Key>& keys() {
  static const std::vector<Key> all = make_keys();
  return all;
}

const Section* find_section(const std::string& name) {
  for (const auto& s : sections()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const Key* find_key(const std::string& section, const std::string& name) {
  for (const auto& k : keys()) {
    if (k.section == section && k.name == name) return &k;
  }
  return nullptr;
}

const Key* shorthand_of(const std::string& section, const std::string& group) {
  for (const auto& k : keys()) {
    if (k.shorthand && k.section == section && k.group() == group) return &k;
  }
  return nullptr;
}

Type key_type(const Key& key) {
  static Config probe = documented_defaults();
  return type_of(key.bind(probe));
}

Json value_of(const Key& key, const Config& config) {
  // bind() hands out a mutable pointer; it is only read here.
  const Target target = key.bind(const_cast<Config&>(config));
  return std::visit([](auto* p) { return Json(*p); }, target);
}

Config documented_defaults() {
  Config c;
  for (const auto& s : sections()) {
    if (s.optional()) s.set_present(c, true);
  }
  return c;
}

}  // namespace distill::config::schema
