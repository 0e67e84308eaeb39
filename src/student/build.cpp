// init-student: check the recipe against the teacher, measure importance when pruning needs it,
// choose what to keep, copy (or randomly initialise) the weights and write the HF folder.
#include "distill/student/build.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <algorithm>
#include <memory>

#include "distill/checkpoint/export.h"
#include "distill/infer/sequences.h"
#include "distill/io/atomic_file.h"
#include "distill/models/init.h"
#include "distill/models/loader.h"
#include "distill/models/prune.h"
#include "distill/models/registry.h"
#include "distill/student/importance.h"
#include "distill/student/select.h"
#include "distill/util/device.h"
#include "distill/util/errors.h"
#include "distill/util/files.h"
#include "distill/util/logging.h"

namespace distill::student {
namespace {

using Indices = std::vector<std::int64_t>;

// The student's sizes, checked against the teacher.
struct Target {
  Indices keep_layers;  // given explicitly, else empty
  std::int64_t layers = 0, heads = 0, kv_heads = 0, hidden = 0, intermediate = 0;
  bool by_importance = false;  // layers chosen by block influence
  bool width = false;          // heads or channels pruned
};

std::string count_text(std::int64_t n, const char* what) { return std::to_string(n) + " " + what; }

std::int64_t size_or(std::int64_t value, std::int64_t teacher, const char* field, const char* what, Naming naming) {
  if (value == 0) return teacher;
  if (value < 1 || value > teacher) {
    throw UsageError(field_name(field, naming) + " is " + std::to_string(value) + " but must be between 1 and " +
                         std::to_string(teacher),
                     "the teacher has " + count_text(teacher, what) + "; a student keeps at most as many");
  }
  return value;
}

Target resolve(const models::ModelSpec& t, const Recipe& r, Naming naming) {
  Target g;
  const std::string keep_name = field_name("keep_layers", naming);
  for (size_t i = 0; i < r.keep_layers.size(); ++i) {
    const std::int64_t l = r.keep_layers[i];
    if (l < 0 || l >= t.num_layers) {
      throw UsageError(keep_name + ": layer " + std::to_string(l) + " does not exist",
                       "the teacher's layers are 0 to " + std::to_string(t.num_layers - 1));
    }
    if (i > 0 && l == r.keep_layers[i - 1]) throw UsageError(keep_name + ": layer " + std::to_string(l) + " is listed twice");
    if (i > 0 && l < r.keep_layers[i - 1]) {
      throw UsageError(keep_name + ": layers must be listed in increasing order",
                       "the student keeps the teacher's layer order; write e.g. 0,2,3");
    }
  }
  g.keep_layers = r.keep_layers;
  if (!g.keep_layers.empty() && r.layers != 0 && r.layers != static_cast<std::int64_t>(g.keep_layers.size())) {
    throw UsageError(field_name("layers", naming) + " is " + std::to_string(r.layers) + " but " + keep_name + " lists " +
                         std::to_string(g.keep_layers.size()) + " layers",
                     "give one of them");
  }
  g.layers = g.keep_layers.empty() ? size_or(r.layers, t.num_layers, "layers", "layers", naming)
                                   : static_cast<std::int64_t>(g.keep_layers.size());
  g.heads = size_or(r.heads, t.num_heads, "heads", "attention heads", naming);
  // Without an explicit count, multi-head attention keeps one KV head per query head; GQA keeps its groups.
  const std::int64_t kv_default = t.num_kv_heads == t.num_heads ? g.heads : t.num_kv_heads;
  g.kv_heads = r.kv_heads == 0 ? kv_default
                               : size_or(r.kv_heads, t.num_kv_heads, "kv_heads", "key/value heads", naming);
  const std::int64_t group = t.num_heads / t.num_kv_heads;
  if (g.heads % g.kv_heads != 0 || g.heads / g.kv_heads > group) {
    throw UsageError(field_name("heads", naming) + " " + std::to_string(g.heads) + " with " + std::to_string(g.kv_heads) +
                         " key/value heads: each key/value head must keep the same number of query heads, at most " +
                         std::to_string(group) + " (the teacher's group size)",
                     "give " + field_name("kv_heads", naming) + " so that it divides " + field_name("heads", naming) +
                         " and heads / kv_heads <= " + std::to_string(group));
  }
  g.hidden = size_or(r.hidden, t.hidden_size, "hidden", "hidden channels", naming);
  g.intermediate = size_or(r.intermediate, t.intermediate_size, "intermediate", "MLP channels", naming);
  g.width = g.heads < t.num_heads || g.kv_heads < t.num_kv_heads || g.hidden < t.hidden_size ||
            g.intermediate < t.intermediate_size;

  if (r.layer_selection != "auto" && r.layer_selection != "uniform" && r.layer_selection != "importance") {
    throw UsageError(field_name("layer_selection", naming) + " must be auto, uniform or importance, got '" +
                     r.layer_selection + "'");
  }
  const bool have_data = !r.calibration.empty();
  g.by_importance = g.keep_layers.empty() && g.layers < t.num_layers && !r.random &&
                    (r.layer_selection == "importance" || (r.layer_selection == "auto" && have_data));
  if (!have_data && !r.random && r.layer_selection == "importance") {
    throw UsageError(field_name("layer_selection", naming) + " importance measures block influence on calibration data",
                     "give " + field_name("calibration", naming) + " FILE (JSONL of input_ids or text)");
  }
  if (!have_data && !r.random && g.width) {
    throw UsageError("pruning heads or channels ranks them by their activations on calibration data, but no " +
                         field_name("calibration", naming) + " was given",
                     "give " + field_name("calibration", naming) + " FILE (JSONL: {\"input_ids\": [...]} or {\"text\": \"...\"} "
                     "per line), or use " + field_name("random", naming) + " for a randomly initialised student");
  }
  if (r.calibration_samples < 1) throw UsageError(field_name("calibration_samples", naming) + " must be >= 1");
  if (r.calibration_seq_len < 1) throw UsageError(field_name("calibration_seq_len", naming) + " must be >= 1");
  return g;
}

Indices iota(std::int64_t n) {
  Indices out(static_cast<size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = i;
  return out;
}

// The plan for a random student: which teacher layers (their per-layer settings, e.g. sliding windows,
// carry over) and prefix index sets of the right sizes (the weights are drawn, not copied).
models::PrunePlan shape_plan(const Target& g) {
  models::PrunePlan plan;
  plan.layers = g.keep_layers;
  const size_t n = plan.layers.size();
  plan.heads.assign(n, iota(g.heads));
  plan.kv_heads.assign(n, iota(g.kv_heads));
  plan.channels.assign(n, iota(g.intermediate));
  plan.hidden = iota(g.hidden);
  return plan;
}

std::vector<std::vector<std::int64_t>> read_calibration(const std::string& path, const std::string& teacher_dir,
                                                        const Recipe& r, std::int64_t vocab) {
  if (!files::is_regular_file(path)) {
    throw InputError(path, "calibration file not found", "give a JSONL file: {\"input_ids\": [...]} or {\"text\": \"...\"} per line");
  }
  std::unique_ptr<tokenizer::Tokenizer> tok;
  try {
    tok = tokenizer::load_tokenizer(teacher_dir);
  } catch (const InputError&) {
    // Only needed for text lines; input_ids lines work without it (encode_text says so otherwise).
  }
  auto seqs = infer::read_sequences(path, tok.get(), "text", static_cast<std::size_t>(r.calibration_samples));
  std::int64_t tokens = 0;
  for (const auto& s : seqs) {
    for (std::int64_t id : s) {
      if (id < 0 || id >= vocab) {
        throw InputError(path, "token id " + std::to_string(id) + " is outside the teacher's vocabulary [0, " +
                                   std::to_string(vocab) + ")",
                         "tokenize the calibration data with the teacher's tokenizer");
      }
    }
    tokens += static_cast<std::int64_t>(s.size());
  }
  if (tokens == 0) throw InputError(path, "holds no tokens", "calibration needs at least one non-empty line");
  return seqs;
}

// The teacher's pruned config.json, parsed as the student's: it must describe exactly the target
// shape (OPT and GPT-2 derive head_dim from hidden_size / heads and cannot decouple them).
models::ModelSpec student_spec(const models::ModelSpec& t, const models::PrunePlan& plan, const std::string& out,
                               at::ScalarType dtype, Naming naming) {
  nlohmann::json config = models::pruned_config(t, plan);
  config[config.contains("torch_dtype") && !config.contains("dtype") ? "torch_dtype" : "dtype"] =
      dtype == at::kBFloat16 ? "bfloat16" : dtype == at::kHalf ? "float16" : "float32";
  const std::int64_t heads = static_cast<std::int64_t>(plan.heads.front().size());
  const std::string hint = t.architecture + " derives head_dim from hidden_size / heads: keeping " +
                           std::to_string(heads) + " heads of " + std::to_string(t.head_dim) + " needs " +
                           field_name("hidden", naming) + " " + std::to_string(heads * t.head_dim) +
                           " (prune heads and hidden together)";
  models::ModelSpec s;
  try {
    s = models::spec_from_config(models::HfConfig(config, files::join(out, "config.json")));
  } catch (const InputError& e) {
    throw UsageError(std::string("the student's shape is not a valid ") + t.architecture + ": " + e.what(), hint);
  }
  if (s.head_dim != t.head_dim || s.num_heads != heads) {
    throw UsageError(std::to_string(heads) + " heads with hidden size " + std::to_string(plan.hidden.size()) +
                         " is not a shape " + t.architecture + " can hold",
                     hint);
  }
  return s;
}

std::int64_t count_parameters(models::CausalLMImpl& m) {
  std::int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace

std::string field_name(const char* field, Naming naming) {
  std::string name = field;
  if (naming == Naming::kConfig) return "student.init." + name;
  std::replace(name.begin(), name.end(), '_', '-');
  return "--" + name;
}

nlohmann::json recipe_json(const Recipe& r) {
  return {{"layers", r.layers},
          {"keep_layers", r.keep_layers},
          {"layer_selection", r.layer_selection},
          {"heads", r.heads},
          {"kv_heads", r.kv_heads},
          {"hidden", r.hidden},
          {"intermediate", r.intermediate},
          {"calibration", r.calibration},
          {"calibration_samples", r.calibration_samples},
          {"calibration_seq_len", r.calibration_seq_len},
          {"random", r.random},
          {"seed", r.seed},
          {"dtype", r.dtype}};
}

BuildResult build_student(const std::string& teacher_dir, const std::string& out, const Recipe& recipe, Naming naming) {
  if (files::exists(out)) {
    throw UsageError(out + ": already exists", "init-student writes a new folder; remove it or pick another --out");
  }
  const models::ModelSpec t = models::read_spec(teacher_dir);
  Target g = resolve(t, recipe, naming);
  const at::ScalarType dtype =
      recipe.dtype.empty() ? models::config_dtype(t.hf_config) : models::parse_dtype(recipe.dtype, field_name("dtype", naming));
  BuildResult result;
  nlohmann::json kept = nlohmann::json::object();

  models::CausalLM student{nullptr};
  if (recipe.random) {
    if (g.keep_layers.empty()) g.keep_layers = uniform_layers(t.num_layers, g.layers);
    const models::PrunePlan plan = shape_plan(g);
    const models::ModelSpec spec = student_spec(t, plan, out, dtype, naming);
    student = models::CausalLM(spec, at::TensorOptions().dtype(dtype));
    models::init_random(*student, static_cast<std::uint64_t>(recipe.seed));
    result.layers = plan.layers;
    log::info("init-student: random {} with the shape of {} layers of {}", spec.architecture, g.layers, teacher_dir);
  } else {
    const c10::Device device = resolve_device(recipe.device, field_name("device", naming));
    models::CausalLM teacher = models::load_model(teacher_dir, {dtype, device, false});
    teacher->eval();
    result.teacher_parameters = count_parameters(*teacher);
    const bool measure = g.width || g.by_importance;
    Importance imp;
    if (measure) {
      const auto seqs = read_calibration(recipe.calibration, teacher_dir, recipe, t.vocab_size);
      imp = measure_importance(*teacher, seqs, recipe.calibration_seq_len);
      result.calibration_tokens = imp.tokens;
      log::info("init-student: importance measured on {} tokens of {}", imp.tokens, recipe.calibration);
      kept["block_influence"] = std::vector<double>(imp.block_influence.data_ptr<double>(),
                                                    imp.block_influence.data_ptr<double>() + t.num_layers);
    }
    models::PrunePlan plan;
    plan.layers = !g.keep_layers.empty() ? g.keep_layers
                  : g.by_importance     ? top_indices(imp.block_influence, g.layers)
                                        : uniform_layers(t.num_layers, g.layers);
    const size_t n = plan.layers.size();
    plan.heads.assign(n, iota(t.num_heads));
    plan.kv_heads.assign(n, iota(t.num_kv_heads));
    plan.channels.assign(n, iota(t.intermediate_size));
    plan.hidden = iota(t.hidden_size);
    for (size_t i = 0; i < n; ++i) {
      const std::int64_t l = plan.layers[i];
      if (g.heads < t.num_heads || g.kv_heads < t.num_kv_heads) {
        const HeadSelection h = select_heads(imp.heads[l], t.num_kv_heads, g.heads, g.kv_heads);
        plan.heads[i] = h.heads;
        plan.kv_heads[i] = h.kv_heads;
      }
      if (g.intermediate < t.intermediate_size) plan.channels[i] = top_indices(imp.channels[l], g.intermediate);
    }
    if (g.hidden < t.hidden_size) {
      const at::Tensor layers = at::tensor(plan.layers, at::kLong);
      plan.hidden = top_indices(imp.hidden.index_select(0, layers).sum(0), g.hidden);
    }
    const models::ModelSpec spec = student_spec(t, plan, out, dtype, naming);
    student = models::prune(*teacher, plan, spec);
    result.layers = plan.layers;
    kept["heads"] = plan.heads;
    kept["kv_heads"] = plan.kv_heads;
  }
  kept["layers"] = result.layers;
  result.heads = g.heads;
  result.kv_heads = g.kv_heads;
  result.hidden = g.hidden;
  result.intermediate = g.intermediate;
  result.parameters = count_parameters(*student);

  const nlohmann::json provenance = {{"teacher", teacher_dir}, {"recipe", recipe_json(recipe)}, {"kept", kept}};
  checkpoint::write_model_folder(*student, out, teacher_dir, [&](const std::string& dir) {
    io::write_file_atomic(files::join(dir, "init_student.json"), provenance.dump(2) + "\n");
  });
  return result;
}

}  // namespace distill::student
