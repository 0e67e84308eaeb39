// `distill train` wiring: student tokenizer -> data (tokenized on first use) -> loaders; teacher and
// student models on the device; the run directory's lock; the trainer.
#include "distill/train/session.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <algorithm>
#include <fstream>

#include "distill/data/tokenize.h"
#include "distill/loss/kd_loss.h"
#include "distill/models/loader.h"
#include "distill/student/build.h"
#include "distill/tokenizer/tokenizer.h"
#include "distill/util/device.h"
#include "distill/util/errors.h"
#include "distill/util/files.h"
#include "distill/util/logging.h"

namespace distill::train {
namespace {

// data::Loader as the trainer's BatchSource.
class LoaderBatches : public BatchSource {
 public:
  LoaderBatches(data::Corpus corpus, data::LoaderOptions options) : loader_(std::move(corpus), options) {}
  std::optional<Batch> next() override {
    auto b = loader_.next();
    if (!b) return std::nullopt;
    return Batch{b->input_ids, b->labels, b->attention_mask};
  }
  nlohmann::ordered_json position() const override { return loader_.position(); }
  void seek(const nlohmann::ordered_json& position) override { loader_.seek(position); }
  void rewind() override { loader_.seek(nlohmann::ordered_json::object()); }

 private:
  data::Loader loader_;
};

std::string tokenizer_path(const config::ModelConfig& model) {
  return model.tokenizer.empty() ? model.path : model.tokenizer;
}

}  // namespace

void check_same_vocabulary(const config::Config& config) {
  if (!config.teacher) return;
  const auto student = tokenizer::load_tokenizer(tokenizer_path(config.student));
  const auto teacher = tokenizer::load_tokenizer(tokenizer_path(*config.teacher));
  if (student->fingerprint() == teacher->fingerprint()) return;
  // Different files can still define the same vocabulary (a copied tokenizer.json with another
  // chat template): compare the tokens id by id over the shared range.
  const std::size_t shared = std::min(student->vocab_size(), teacher->vocab_size());
  std::size_t differ = 0;
  for (std::size_t id = 0; id < shared; ++id) {
    const auto t = static_cast<tokenizer::TokenId>(id);
    if (student->id_to_token(t) != teacher->id_to_token(t)) ++differ;
  }
  if (differ * 1000 > shared) {
    throw UsageError("teacher and student tokenize differently (" + std::to_string(differ) + " of the first " +
                         std::to_string(shared) + " token ids differ): " + tokenizer_path(*config.teacher) +
                         " vs " + tokenizer_path(config.student),
                     "distilling across tokenizers needs loss.cross_tokenizer (transplant or align, issue #7); "
                     "until then pick a student that shares the teacher's tokenizer");
  }
  if (student->vocab_size() != teacher->vocab_size()) {
    log::info("teacher vocabulary {} and student vocabulary {} share their first {} tokens", teacher->vocab_size(),
              student->vocab_size(), shared);
  }
}

namespace {

student::Recipe recipe_of(const config::Config& config) {
  const config::StudentInitConfig& init = config.student.init;
  student::Recipe r;
  r.layers = init.layers;
  r.keep_layers = init.keep_layers;
  r.layer_selection = init.layer_selection;
  r.heads = init.heads;
  r.kv_heads = init.kv_heads;
  r.hidden = init.hidden;
  r.intermediate = init.intermediate;
  r.calibration = init.calibration;
  r.calibration_samples = init.calibration_samples;
  r.calibration_seq_len = init.calibration_seq_len;
  r.random = init.random;
  r.seed = config.train.seed;
  r.device = config.train.device;
  return r;
}

// student.init.from = teacher: builds student.path from the teacher unless an earlier run (this run
// being resumed) built it with the same recipe, which init_student.json in the folder records.
void build_student_from_teacher(const config::Config& config) {
  const std::string& out = config.student.path;
  const student::Recipe recipe = recipe_of(config);
  if (!files::exists(out)) {
    log::info("student {}: building it from the teacher {} (student.init.from = teacher)", out, config.teacher->path);
    student::build_student(config.teacher->path, out, recipe, student::Naming::kConfig);
    return;
  }
  const std::string record = files::join(out, "init_student.json");
  nlohmann::json built;
  std::ifstream in(record);
  if (in) {
    try {
      in >> built;
    } catch (const std::exception&) {
      built = nullptr;
    }
  }
  const bool same = built.is_object() && built.value("teacher", nlohmann::json()) == config.teacher->path &&
                    built.value("recipe", nlohmann::json()) == student::recipe_json(recipe);
  if (!same) {
    throw UsageError("student.path " + out + " already exists but was not built from this teacher with this "
                     "student.init" + (in ? " (see its init_student.json)" : " (it has no init_student.json)"),
                     "with student.init.from = teacher, student.path is where the student is built: point it at a "
                     "new folder, or remove the old one");
  }
  log::info("student {}: built from the teacher by an earlier run with the same student.init; reusing it", out);
}

}  // namespace

TrainResult run_training(const config::Config& config, checkpoint::ResumeMode mode) {
  if (config.loss.cross_tokenizer != "none") {
    throw UsageError("loss.cross_tokenizer '" + config.loss.cross_tokenizer +
                         "' (distilling between different tokenizers) is not built yet (issue #7)",
                     "until it lands, pick a student that shares the teacher's tokenizer and set "
                     "loss.cross_tokenizer=none (configs/qwen2.5_7b_to_0.5b.json is such a pair)");
  }
  const loss::KdLossOptions loss_options = loss::options_from_config(config.loss);
  loss::validate(loss_options);
  const bool use_teacher = config.teacher && loss::needs_teacher(loss_options);
  const c10::Device device = resolve_device(config.train.device, "train.device");
  const bool build_student = config.student.init.from == "teacher";
  if (use_teacher && !build_student) check_same_vocabulary(config);

  // The run directory first: a second run on it stops here (exit 6) before any heavy work.
  checkpoint::RunDir run_dir(config.checkpoint.dir);
  if (build_student) {
    build_student_from_teacher(config);
    if (use_teacher) check_same_vocabulary(config);
  }

  const auto student_tokenizer = tokenizer::load_tokenizer(tokenizer_path(config.student));
  data::PreparedData prepared =
      data::prepare_data(config.data, *student_tokenizer, data::cache_root(config), data::model_context(config));
  data::LoaderOptions train_options = data::loader_options(config, /*train=*/true);
  train_options.pin_memory = device.is_cuda();
  LoaderBatches train_batches(std::move(prepared.train), train_options);
  std::optional<LoaderBatches> valid_batches;
  if (prepared.valid) {
    data::LoaderOptions valid_options = data::loader_options(config, /*train=*/false);
    valid_options.pin_memory = device.is_cuda();
    valid_batches.emplace(std::move(*prepared.valid), valid_options);
  }

  torch::manual_seed(static_cast<std::uint64_t>(config.train.seed));
  TrainerParts parts;
  const models::LoadOptions student_options{models::parse_dtype(config.student.dtype, "student.dtype"), device, true};
  if (config.student.init.from == "random") {
    parts.student = models::init_model(config.student.path, student_options,
                                       static_cast<std::uint64_t>(config.train.seed));
    log::info("student {}: random initialisation (student.init = random, seed {})", config.student.path,
              config.train.seed);
  } else {
    parts.student = models::load_model(config.student.path, student_options);
  }
  if (use_teacher) {
    const models::LoadOptions teacher_options{models::parse_dtype(config.teacher->dtype, "teacher.dtype"), device, false};
    if (config.teacher->init.from == "random") {
      parts.teacher = models::init_model(config.teacher->path, teacher_options,
                                         static_cast<std::uint64_t>(config.train.seed) + 1);
      log::warn("teacher {}: random weights (teacher.init = random): it teaches nothing; this is for throughput "
                "benchmarks", config.teacher->path);
    } else {
      parts.teacher = models::load_model(config.teacher->path, teacher_options);
    }
    log::info("teacher {} ({}), student {} ({}) on {}", config.teacher->path, parts.teacher->spec().architecture,
              config.student.path, parts.student->spec().architecture, device.str());
  }
  // Token ids index the embedding: a tokenizer with more ids than the model has rows would crash
  // deep inside the forward pass, so say it here.
  const auto tok_vocab = static_cast<std::int64_t>(student_tokenizer->vocab_size());
  for (const auto* m : {&parts.student, &parts.teacher}) {
    if (*m && tok_vocab > (*m)->spec().vocab_size) {
      const bool is_student = m == &parts.student;
      throw InputError(tokenizer_path(config.student),
                       "the tokenizer has " + std::to_string(tok_vocab) + " ids but the " +
                           (is_student ? "student" : "teacher") + " model (" +
                           (is_student ? config.student.path : config.teacher->path) + ") has only " +
                           std::to_string((*m)->spec().vocab_size) + " embedding rows",
                       "use the tokenizer the model was trained with (student.tokenizer / teacher.tokenizer)");
    }
  }
  parts.train = &train_batches;
  parts.valid = valid_batches ? &*valid_batches : nullptr;
  Trainer trainer(config, config::to_json(config), run_dir, parts);
  return trainer.run(mode);
}

}  // namespace distill::train
