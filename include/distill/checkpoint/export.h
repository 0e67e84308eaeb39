// `distill export`: a training checkpoint's student as a Hugging Face folder transformers loads.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <c10/core/ScalarType.h>

#include "distill/models/causal_lm.h"

namespace distill::checkpoint {

struct ExportOptions {
  std::optional<std::int64_t> step;     // the newest verified checkpoint when absent
  std::optional<c10::ScalarType> dtype; // the student's config.json dtype when absent, else fp32
};

// Writes config.json, model.safetensors (or shards), generation_config.json and the student's
// tokenizer files into `out`, which must not exist yet (it appears complete or not at all: the
// folder is written beside it and renamed). Returns the exported step.
std::int64_t export_student(const std::string& run_dir, const std::string& out, const ExportOptions& options);

// The tokenizer and generation files copied from the student folder when present.
const char* const* exported_side_files();

// Writes `model` as an HF folder at `out`, which must not exist yet: config.json, the weights, the
// tokenizer and generation files of `side_files_from` (exported_side_files(); none when empty), then `extra(dir)`
// for anything else, and a generation_config.json from config.json when none was copied. The folder
// is written beside `out` and renamed: it appears complete or not at all.
void write_model_folder(models::CausalLMImpl& model, const std::string& out, const std::string& side_files_from,
                        const std::function<void(const std::string& dir)>& extra = {});

}  // namespace distill::checkpoint
