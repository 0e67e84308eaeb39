// Building a student from a teacher (`distill init-student`, and student.init.from = "teacher"):
// fewer layers, heads and channels chosen by importance on calibration data, or the same shape with
// random weights, written as an HF folder of the teacher's family.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace distill::student {

// What to build. Sizes of 0 keep the teacher's.
struct Recipe {
  std::int64_t layers = 0;                  // decoder layers kept
  std::vector<std::int64_t> keep_layers;    // exactly these teacher layers (ascending); overrides the selection
  std::string layer_selection = "auto";     // auto | uniform | importance (auto: importance with calibration data)
  std::int64_t heads = 0;                   // query heads per layer
  std::int64_t kv_heads = 0;                // key/value heads per layer (GQA groups)
  std::int64_t hidden = 0;                  // residual-stream width
  std::int64_t intermediate = 0;            // MLP width
  std::string calibration;                  // JSONL: {"input_ids": [...]} or {"text": "..."} per line
  std::int64_t calibration_samples = 256;   // lines of the calibration file used
  std::int64_t calibration_seq_len = 512;   // tokens per calibration sequence (longer lines are cut)
  bool random = false;                      // the shape only: weights initialised as the family does
  std::int64_t seed = 1234;                 // the random initialisation's seed
  std::string dtype;                        // fp32 | bf16 | fp16; empty: the teacher's config.json dtype
  std::string device = "auto";              // where calibration runs
};

// How errors name a recipe field: "--keep-layers" for the command line, "student.init.keep_layers"
// for a config.
enum class Naming { kFlags, kConfig };
std::string field_name(const char* field, Naming naming);

// The recipe as JSON (written beside the student as init_student.json, with what was kept).
nlohmann::json recipe_json(const Recipe& recipe);

struct BuildResult {
  std::vector<std::int64_t> layers;  // teacher layers kept
  std::int64_t heads = 0, kv_heads = 0, hidden = 0, intermediate = 0;
  std::int64_t parameters = 0, teacher_parameters = 0;
  std::int64_t calibration_tokens = 0;
};

// Writes the student into `out` (which must not exist), with init_student.json recording the
// teacher, the recipe and what was kept. Bad recipes are UsageErrors naming the field; an unreadable
// teacher or calibration file is an InputError naming it.
BuildResult build_student(const std::string& teacher_dir, const std::string& out, const Recipe& recipe,
                          Naming naming = Naming::kFlags);

}  // namespace distill::student
