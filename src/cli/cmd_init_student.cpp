// `distill init-student --teacher DIR --out DIR [sizes] [--calibration F] [--random]`: a student
// built from a teacher (pruned by importance, or the same shape randomly initialised).
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>

#include "distill/cli/commands.h"
#include "distill/student/build.h"
#include "distill/util/errors.h"

namespace distill::cli {
namespace {

struct InitStudentCliOptions {
  std::string teacher, out, keep_layers;
  bool keep_layers_given = false;
  student::Recipe recipe;
};

// "0,2,5" -> {0, 2, 5}; range and order are checked against the teacher later.
std::vector<std::int64_t> parse_layer_list(const std::string& text) {
  if (text.find_first_not_of(" ,") == std::string::npos) {
    throw UsageError("--keep-layers is empty", "list the teacher layers to keep, e.g. --keep-layers 0,2,3");
  }
  std::vector<std::int64_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    std::int64_t value = 0;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size()) {
      throw UsageError("--keep-layers: '" + item + "' is not a layer index", "write comma-separated integers, e.g. 0,2,3");
    }
    out.push_back(value);
  }
  return out;
}

std::string millions(std::int64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fM", static_cast<double>(n) / 1e6);
  return buf;
}

std::string list_text(const std::vector<std::int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

int run_init_student(InitStudentCliOptions& o) {
  if (o.keep_layers_given) o.recipe.keep_layers = parse_layer_list(o.keep_layers);
  const student::BuildResult r = student::build_student(o.teacher, o.out, o.recipe, student::Naming::kFlags);
  std::printf("wrote %s: %s weights, layers %s, %lld heads (%lld key/value), hidden %lld, intermediate %lld, "
              "%s parameters%s\n",
              o.out.c_str(), o.recipe.random ? "random" : "teacher", list_text(r.layers).c_str(),
              static_cast<long long>(r.heads), static_cast<long long>(r.kv_heads), static_cast<long long>(r.hidden),
              static_cast<long long>(r.intermediate), millions(r.parameters).c_str(),
              r.teacher_parameters ? (" (teacher " + millions(r.teacher_parameters) + ")").c_str() : "");
  return 0;
}

}  // namespace

Command add_init_student(CLI::App& root) {
  auto opts = std::make_shared<InitStudentCliOptions>();
  student::Recipe& r = opts->recipe;
  CLI::App* sub = root.add_subcommand("init-student", "build a student from a teacher (prune by importance, or random init)");
  sub->add_option("--teacher", opts->teacher, "the teacher: an HF model folder")->required();
  sub->add_option("--out", opts->out, "the student folder to create (must not exist)")->required();
  sub->add_option("--layers", r.layers, "decoder layers to keep (default: all)");
  sub->add_option("--keep-layers", opts->keep_layers, "exactly these teacher layers, ascending: 0,2,3")
      ->each([opts](const std::string&) { opts->keep_layers_given = true; });
  sub->add_option("--layer-selection", r.layer_selection,
                  "uniform (evenly spaced, first and last kept) | importance (block influence on --calibration) | "
                  "auto (default: importance when --calibration is given)");
  sub->add_option("--heads", r.heads, "attention (query) heads per layer (default: the teacher's)");
  sub->add_option("--kv-heads", r.kv_heads, "key/value heads per layer; a removed one takes its query group");
  sub->add_option("--hidden", r.hidden, "residual-stream width, hidden_size (default: the teacher's)");
  sub->add_option("--intermediate", r.intermediate, "MLP width (default: the teacher's)");
  sub->add_option("--calibration", r.calibration,
                  "JSONL, {\"input_ids\": [...]} or {\"text\": \"...\"} per line: importance is measured on it");
  sub->add_option("--calibration-samples", r.calibration_samples, "calibration lines used (default 256)");
  sub->add_option("--calibration-seq-len", r.calibration_seq_len, "tokens per calibration sequence (default 512)");
  sub->add_flag("--random", r.random, "the student's shape only, weights initialised as the family does");
  sub->add_option("--seed", r.seed, "seed of --random (default 1234)");
  sub->add_option("--dtype", r.dtype, "fp32 | bf16 | fp16 (default: the teacher's config.json dtype)");
  sub->add_option("--device", r.device, "where calibration runs: auto | cpu | cuda | cuda:N (default auto)");
  Command cmd;
  cmd.app = sub;
  cmd.run = [opts]() { return run_init_student(*opts); };
  return cmd;
}

}  // namespace distill::cli
