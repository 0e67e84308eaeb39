// Helpers for the checkpoint tests: deterministic checkpoint contents per step, file surgery.
#pragma once

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "distill/checkpoint/run_dir.h"
#include "distill/util/files.h"
#include "test_support.h"

namespace distill::testing {

#define EXPECT_CONTAINS(haystack, needle) EXPECT_PRED_FORMAT2(::testing::IsSubstring, needle, haystack)

// Contents that say which step they belong to: every value is a function of the step, so a loaded
// checkpoint can be checked without trusting the code that wrote it. `elems`: floats per tensor.
inline checkpoint::CheckpointData data_for_step(std::int64_t step, std::int64_t elems = 16) {
  checkpoint::CheckpointData d;
  const double s = static_cast<double>(step);
  d.model = {{"model.embed_tokens.weight", at::full({elems}, s, at::kFloat)},
             {"model.norm.weight", at::full({4}, s + 0.5, at::kBFloat16)},
             {"lm_head.bias", at::arange(3, at::kLong) + step}};
  d.optimizer = {{"exp_avg.model.embed_tokens.weight", at::full({elems}, 2 * s, at::kFloat)},
                 {"exp_avg_sq.model.embed_tokens.weight", at::full({elems}, 3 * s, at::kFloat)},
                 {"step", at::full({1}, s, at::kLong)}};
  d.state.step = step;
  d.state.scheduler_step = step;
  d.state.data_position = {{"shard", step % 3}, {"offset", step * 10}};
  d.state.loss_scaler = {{"scale", 65536.0}, {"growth_tracker", step}};
  d.state.rng = checkpoint::RngStates{std::string(8, static_cast<char>(step)), {}};
  return d;
}

inline const at::Tensor& tensor_named(const io::NamedTensors& tensors, const std::string& name) {
  for (const auto& [n, t] : tensors) {
    if (n == name) return t;
  }
  throw std::runtime_error("no tensor " + name);
}

// True when `loaded` holds exactly what data_for_step(step) saved (values checked element-wise).
inline bool holds_step(const checkpoint::LoadedCheckpoint& loaded, std::int64_t step) {
  const double s = static_cast<double>(step);
  const at::Tensor w = tensor_named(loaded.model, "model.embed_tokens.weight");
  const at::Tensor m = tensor_named(loaded.optimizer, "exp_avg.model.embed_tokens.weight");
  return loaded.state.step == step && loaded.model.size() == 3 && loaded.optimizer.size() == 3 &&
         w.scalar_type() == at::kFloat && w.eq(s).all().item<bool>() && m.eq(2 * s).all().item<bool>() &&
         tensor_named(loaded.model, "lm_head.bias").equal(at::arange(3, at::kLong) + step) &&
         tensor_named(loaded.model, "model.norm.weight").scalar_type() == at::kBFloat16 &&
         loaded.state.data_position.at("offset").get<std::int64_t>() == step * 10;
}

// The metrics row a fake trainer logs at `step` (deterministic, so runs can be compared byte for byte).
inline checkpoint::Json metrics_row(std::int64_t step) {
  return {{"step", step}, {"loss", 10.0 / static_cast<double>(step + 1)}, {"lr", 1e-4}};
}

// What metrics.jsonl holds after rows 1..last.
inline std::string metrics_text(std::int64_t last) {
  std::string text;
  for (std::int64_t s = 1; s <= last; ++s) text += metrics_row(s).dump() + "\n";
  return text;
}

// Overwrites one byte in the middle of a file (size unchanged).
inline void flip_byte(const std::string& path) {
  std::string bytes = read_file(path);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x5a);
  write_file(path, bytes);
}

inline std::string step_dir(const std::string& run_dir, std::int64_t step) {
  return files::join(files::join(run_dir, checkpoint::kCheckpointsDir), checkpoint::step_folder_name(step));
}

}  // namespace distill::testing
