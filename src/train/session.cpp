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
#include "distill/models/registry.h"
#include "distill/train/prefetched_batches.h"
#include "distill/tokenizer/tokenizer.h"
#include "distill/util/cuda_memory.h"
#include "distill/util/device.h"
#include "distill/util/errors.h"
#include "distill/util/files.h"
#include "distill/util/logging.h"
#include "distill/xtok/teacher_batch.h"
#include "distill/xtok/transplant.h"
#include "distill/xtok/vocab_map.h"

namespace distill::train {
namespace {

// data::Loader as the trainer's BatchSource; across tokenizers (align) each batch also gets the
// teacher's tokens of the same text.
class LoaderBatches : public BatchSource {
 public:
  LoaderBatches(data::Corpus corpus, data::LoaderOptions options, const xtok::TeacherView* view = nullptr)
      : loader_(std::move(corpus), options), pin_(options.pin_memory && at::globalContext().hasCUDA()) {
    if (view) {
      view_ = *view;
      view_->corpus = &loader_.corpus();
    }
  }
  std::optional<Batch> next() override {
    auto b = loader_.next();
    if (!b) return std::nullopt;
    Batch out{b->input_ids, b->labels, b->attention_mask};
    if (view_) {
      xtok::TeacherBatch t = xtok::make_teacher_batch(*view_, *b);
      // Page-locked like the loader's tensors, so that the copies to the GPU do not wait for it.
      const auto host = [&](const at::Tensor& x) { return pin_ ? x.pin_memory() : x; };
      out.teacher_input_ids = host(t.input_ids);
      out.teacher_attention_mask = t.attention_mask;
      out.teacher_pos = host(t.teacher_pos);
      out.exact = host(t.exact);
      out.uld_cols = host(t.uld_cols);
      if (!logged_) {
        logged_ = true;
        const double n = static_cast<double>(std::max<std::int64_t>(t.positions, 1));
        log::info("align: in the first batch {:.1f}% of the student's positions read the same bytes as a teacher "
                  "position, {:.1f}% also predict the same string (shared-vocabulary divergence; the rest ULD){}",
                  100.0 * static_cast<double>(t.aligned) / n, 100.0 * static_cast<double>(t.exact_count) / n,
                  t.failed_spans ? " (" + std::to_string(t.failed_spans) + " spans whose tokens do not spell their text)"
                                 : std::string());
      }
    }
    return out;
  }
  nlohmann::ordered_json position() const override { return loader_.position(); }
  void seek(const nlohmann::ordered_json& position) override { loader_.seek(position); }
  void rewind() override { loader_.seek(nlohmann::ordered_json::object()); }

 private:
  data::Loader loader_;
  std::optional<xtok::TeacherView> view_;
  bool pin_ = false;
  bool logged_ = false;
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
                     "set loss.cross_tokenizer to transplant or align (docs/cross-tokenizer.md), or pick a "
                     "student that shares the teacher's tokenizer");
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
  const loss::KdLossOptions loss_options = loss::options_from_config(config.loss);
  loss::validate(loss_options);
  const bool use_teacher = config.teacher && loss::needs_teacher(loss_options);
  const c10::Device device = resolve_device(config.train.device, "train.device");
  const bool build_student = config.student.init.from == "teacher";
  const std::string& cross = config.loss.cross_tokenizer;
  if (cross != "none" && cross != "transplant" && cross != "align") {
    throw UsageError("loss.cross_tokenizer '" + cross + "' is not one of none, transplant, align",
                     "docs/cross-tokenizer.md describes the two strategies");
  }
  const bool transplant = use_teacher && cross == "transplant";
  const bool align = use_teacher && cross == "align";
  if (use_teacher && !transplant && !align && !build_student) check_same_vocabulary(config);

  // The run directory first: a second run on it stops here (exit 6) before any heavy work.
  checkpoint::RunDir run_dir(config.checkpoint.dir);
  if (build_student) {
    build_student_from_teacher(config);
    if (use_teacher) check_same_vocabulary(config);
  }

  const auto student_tokenizer = tokenizer::load_tokenizer(tokenizer_path(config.student));
  std::unique_ptr<tokenizer::Tokenizer> teacher_tokenizer;
  std::optional<xtok::VocabMap> vocab_map;
  if (transplant || align) {
    teacher_tokenizer = tokenizer::load_tokenizer(tokenizer_path(*config.teacher));
    vocab_map = xtok::build_vocab_map(*teacher_tokenizer, *student_tokenizer);
    log::info("cross-tokenizer ({}): {} of the teacher's {} tokens have the same string in the student's {} tokens",
              cross, vocab_map->shared_teacher.size(), vocab_map->teacher_vocab, vocab_map->student_vocab);
    if (vocab_map->shared_teacher.empty()) {
      throw InputError(tokenizer_path(*config.teacher), "shares no token string with the student's tokenizer " +
                                                            tokenizer_path(config.student),
                       "check teacher.tokenizer and student.tokenizer");
    }
  }
  // transplant: the student reads the teacher's tokens, so the data is tokenized with the teacher's tokenizer.
  const tokenizer::Tokenizer& data_tokenizer = transplant ? *teacher_tokenizer : *student_tokenizer;
  data::PreparedData prepared =
      data::prepare_data(config.data, data_tokenizer, data::cache_root(config), data::model_context(config));
  std::optional<xtok::TeacherView> view;
  if (align) {
    if (!prepared.train.has_text() || (prepared.valid && !prepared.valid->has_text())) {
      throw UsageError("loss.cross_tokenizer 'align' needs the text of the documents, and data.keep_text is false",
                       "set data.keep_text=true (the data is tokenized again, once)");
    }
    view.emplace();
    view->teacher = teacher_tokenizer.get();
    view->student_texts = xtok::token_texts(*student_tokenizer);
    view->teacher_texts = xtok::token_texts(*teacher_tokenizer);
    view->student_eos = prepared.train.eos().value_or(-1);
    // The separator: the teacher's twin of the student's EOS (so that exact rows before a separator
    // compare the same token), else the teacher's EOS.
    const auto& special = teacher_tokenizer->special_tokens();
    view->teacher_eos = special.eos.value_or(special.pad.value_or(0));
    for (std::size_t k = 0; k < vocab_map->shared_student.size(); ++k) {
      if (vocab_map->shared_student[k] == view->student_eos) {
        view->teacher_eos = static_cast<std::int32_t>(vocab_map->shared_teacher[k]);
      }
    }
    view->teacher_pad = special.pad.value_or(view->teacher_eos);
    const std::int64_t teacher_context = models::read_spec(config.teacher->path).max_positions;
    view->max_teacher_len = std::min<std::int64_t>(teacher_context > 0 ? teacher_context : 1 << 20, 2 * config.data.seq_len);
  }
  // transplant, new rows "low": the training text their logits are fitted on (the loader is untouched).
  const at::Tensor transplant_probe = transplant && config.loss.transplant_new_rows == "low"
                                          ? xtok::probe_rows(prepared.train, config.data.seq_len)
                                          : at::Tensor();
  data::LoaderOptions train_options = data::loader_options(config, /*train=*/true);
  train_options.pin_memory = device.is_cuda();
  // Across tokenizers each batch's teacher view is host work: a thread makes it a few batches ahead.
  const auto batches = [&](data::Corpus corpus, const data::LoaderOptions& options) -> std::unique_ptr<BatchSource> {
    if (!view) return std::make_unique<LoaderBatches>(std::move(corpus), options);
    return std::make_unique<PrefetchedBatches>(std::make_unique<LoaderBatches>(std::move(corpus), options, &*view));
  };
  std::unique_ptr<BatchSource> train_batches = batches(std::move(prepared.train), train_options);
  std::unique_ptr<BatchSource> valid_batches;
  if (prepared.valid) {
    data::LoaderOptions valid_options = data::loader_options(config, /*train=*/false);
    valid_options.pin_memory = device.is_cuda();
    valid_batches = batches(std::move(*prepared.valid), valid_options);
  }

  if (config.train.gpu_memory_gib > 0) {
    if (!device.is_cuda()) {
      throw UsageError("train.gpu_memory_gib caps GPU memory, but the run is on " + device.str(),
                       "remove train.gpu_memory_gib or train on a CUDA device");
    }
    const auto cap = static_cast<std::int64_t>(config.train.gpu_memory_gib * 1024.0 * 1024.0 * 1024.0);
    cuda_cap_memory(device, cap);
    log::info("GPU memory capped at {:.1f} GiB of {:.1f} (train.gpu_memory_gib)", config.train.gpu_memory_gib,
              static_cast<double>(cuda_total_bytes(device)) / (1 << 30));
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
    const bool stream = config.teacher->offload == "layers";
    if (stream && !device.is_cuda()) {
      throw UsageError("teacher.offload 'layers' streams the teacher's layers to a GPU, but the run is on " +
                           device.str(),
                       "set teacher.offload to \"none\" or train on a CUDA device");
    }
    // Streamed: the teacher is built in host memory and only its non-layer parts move to the GPU.
    const models::LoadOptions teacher_options{models::parse_dtype(config.teacher->dtype, "teacher.dtype"),
                                              stream ? c10::Device(at::kCPU) : device, false};
    if (config.teacher->init.from == "random") {
      parts.teacher = models::init_model(config.teacher->path, teacher_options,
                                         static_cast<std::uint64_t>(config.train.seed) + 1);
      log::warn("teacher {}: random weights (teacher.init = random): it teaches nothing; this is for throughput "
                "benchmarks", config.teacher->path);
    } else {
      parts.teacher = models::load_model(config.teacher->path, teacher_options);
    }
    if (stream) {
      const std::int64_t layers = parts.teacher->num_layers();
      const std::int64_t count = config.teacher->offload_layers;
      if (count > layers) {
        throw UsageError("teacher.offload_layers is " + std::to_string(count) + " but the teacher " +
                             config.teacher->path + " has " + std::to_string(layers) + " decoder layers",
                         "set teacher.offload_layers to at most " + std::to_string(layers) + " (0 streams all)");
      }
      models::stream_layers_from_host(*parts.teacher, device, count);
      log::info("teacher.offload = layers: {} of {} decoder layers in pinned host memory, streamed through {:.2f} "
                "GiB of GPU slots", count == 0 ? layers : count, layers,
                static_cast<double>(parts.teacher->layer_streamer_bytes()) / (1 << 30));
    }
    log::info("teacher {} ({}), student {} ({}) on {}", config.teacher->path, parts.teacher->spec().architecture,
              config.student.path, parts.student->spec().architecture, device.str());
  }
  if (transplant) {
    const std::int64_t rows = std::max<std::int64_t>(parts.teacher->spec().vocab_size,
                                                     static_cast<std::int64_t>(teacher_tokenizer->vocab_size()));
    const xtok::TransplantPlan plan = xtok::plan_transplant(*teacher_tokenizer, *student_tokenizer, *vocab_map, rows);
    const std::string& how = config.loss.transplant_new_rows;
    xtok::LowRowsReport low;
    parts.student = xtok::transplant(*parts.student, plan, teacher_tokenizer->special_tokens(),
                                     how == "low"    ? xtok::NewRows::kLow
                                     : how == "mean" ? xtok::NewRows::kMean
                                                     : xtok::NewRows::kPieces,
                                     transplant_probe, &low);
    log::info("transplant: the student now has the teacher's {} vocabulary rows: {} copied from one student token, "
              "{} made of several student tokens ({}), {} set to the mean embedding",
              rows, plan.copied, plan.averaged,
              how == "low"    ? "head rows below the mean row, loss.transplant_new_rows = low"
              : how == "mean" ? "head rows at the mean row, loss.transplant_new_rows = mean"
                              : "the mean of their rows",
              plan.fallback);
    if (how == "low") {
      log::info("transplant: new head rows start {:.3f} below the mean row's logit (on {} positions of training text "
                "whose next token is a new row at {:.2f}%: their softmax mass {:.2f}% at the mean row, {:.2f}% now; "
                "{:.1f}% of the positions have h . hbar < 0)",
                low.delta, low.positions,
                100.0 * static_cast<double>(low.new_targets) / static_cast<double>(std::max<std::int64_t>(low.positions, 1)),
                100.0 * low.mass_mean, 100.0 * low.mass_low, 100.0 * low.below_zero);
    }
  }
  if (align) {
    const auto ids = [](const std::vector<std::int64_t>& v) {
      return at::tensor(at::ArrayRef<std::int64_t>(v), at::TensorOptions().dtype(at::kLong));
    };
    parts.shared_student = ids(vocab_map->shared_student);
    parts.shared_teacher = ids(vocab_map->shared_teacher);
  }
  // Token ids index the embedding: a tokenizer with more ids than the model has rows would crash
  // deep inside the forward pass, so say it here.
  const auto check_rows = [&](const models::CausalLM& m, const tokenizer::Tokenizer& tok, bool is_student) {
    const auto tok_vocab = static_cast<std::int64_t>(tok.vocab_size());
    if (!m || tok_vocab <= m->spec().vocab_size) return;
    throw InputError(tok.source(),
                     "the tokenizer has " + std::to_string(tok_vocab) + " ids but the " +
                         (is_student ? "student" : "teacher") + " model (" +
                         (is_student ? config.student.path : config.teacher->path) + ") has only " +
                         std::to_string(m->spec().vocab_size) + " embedding rows",
                     "use the tokenizer the model was trained with (student.tokenizer / teacher.tokenizer)");
  };
  check_rows(parts.student, data_tokenizer, true);
  check_rows(parts.teacher, align ? *teacher_tokenizer : data_tokenizer, false);
  parts.train = train_batches.get();
  parts.valid = valid_batches.get();
  Trainer trainer(config, config::to_json(config), run_dir, parts);
  return trainer.run(mode);
}

}  // namespace distill::train
