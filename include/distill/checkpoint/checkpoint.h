// One training checkpoint on disk: a folder "step-00000123" holding model.safetensors (student
// weights), optimizer.safetensors (optimizer state) and state.json (step, scheduler, data position,
// loss scaler, RNG states, the resolved config and its hash, and each file's size and sha256).
// RunDir (run_dir.h) writes these folders atomically and finds the newest good one; this header is
// the folder format itself, also for readers such as `distill export`.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "distill/checkpoint/rng_state.h"
#include "distill/io/safetensors.h"

namespace distill::checkpoint {

using Json = nlohmann::ordered_json;

constexpr const char* kModelFile = "model.safetensors";
constexpr const char* kOptimizerFile = "optimizer.safetensors";
constexpr const char* kStateFile = "state.json";
constexpr int kFormatVersion = 1;

// Everything besides tensors that a run needs to continue exactly where it stopped.
struct TrainingState {
  std::int64_t step = 0;            // optimizer steps completed
  std::int64_t scheduler_step = 0;  // the LR schedule's position
  Json data_position = Json::object();  // opaque: the data loader's resumable position
  Json loss_scaler = Json::object();    // opaque: fp16 loss-scaler state ({} when unused)
  Json trainer = Json::object();        // opaque: anything else the trainer keeps (e.g. micro_batch after auto-halving)
  RngStates rng;                        // capture_rng_states(); left empty, it is captured when saving
};

// What the trainer hands over for a save. Tensors may be on any device and of any safetensors dtype;
// names are free (the trainer decides the layout) but unique within each group.
struct CheckpointData {
  io::NamedTensors model;      // student weights
  io::NamedTensors optimizer;  // optimizer state (e.g. "exp_avg.<param>", "exp_avg_sq.<param>")
  TrainingState state;
};

// A verified checkpoint, as read back.
struct LoadedCheckpoint {
  std::string dir;                   // the step folder
  io::NamedTensors model;            // CPU tensors aliasing the mapped files (zero-copy), file order
  io::NamedTensors optimizer;
  TrainingState state;
  Json config;                       // the resolved config it was saved with (null when none was set)
  std::string config_sha256;         // sha256 of config.dump()
  std::map<std::string, std::int64_t> append_files;  // run-dir append-only files and their sizes at save time
};

// "step-00000123" (at least 8 digits).
std::string step_folder_name(std::int64_t step);
// The step of a folder name written by step_folder_name; -1 for any other name.
std::int64_t parse_step_folder_name(const std::string& name);

// sha256 hex of config.dump(): the "config hash" in state.json.
std::string config_sha256(const Json& config);

// Writes a complete checkpoint into the existing empty folder `dir`: the two tensor files, then
// state.json (carrying every file's size and sha256), each fsynced, then the folder itself. Not
// atomic on its own: RunDir::save_checkpoint writes into a temporary folder and renames it.
// Throws OutputError naming the path (disk full, permissions), UsageError for a dtype safetensors
// cannot hold.
void write_checkpoint_folder(const std::string& dir, const CheckpointData& data, const Json& config,
                             const std::map<std::string, std::int64_t>& append_files);

// Reads and checks state.json and checks that every file it lists exists with its recorded size:
// cheap (no hashing), for pruning and scanning. Returns the reason it is not complete, or nullopt.
std::optional<std::string> incomplete_reason(const std::string& dir);

// Verifies a step folder (state.json well-formed and of a known format version, every listed file
// present with its recorded size and sha256, safetensors headers valid) and opens it. Anything
// wrong is an InputError naming the offending file. Does not restore the RNG states.
LoadedCheckpoint load_checkpoint_folder(const std::string& dir);

}  // namespace distill::checkpoint
