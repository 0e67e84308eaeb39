// The process's random-number generator states (LibTorch's default CPU generator and, in CUDA
// builds, each visible device's default generator), captured for a checkpoint and restored on resume.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace distill::checkpoint {

struct RngStates {
  std::string cpu;                // at::Generator::get_state() bytes of the default CPU generator
  std::vector<std::string> cuda;  // per device index; empty in CPU builds or without devices
};

RngStates capture_rng_states();
// Sets the default generators back. CUDA states for devices that are not visible now are skipped
// with a warning (resuming on fewer GPUs). A state of the wrong size or content is an InputError
// naming `source`.
void restore_rng_states(const RngStates& states, const std::string& source);

// {"cpu": "<base64>", "cuda": ["<base64>", ...]}.
nlohmann::ordered_json rng_states_to_json(const RngStates& states);
// Inverse; InputError naming `source` for anything malformed.
RngStates rng_states_from_json(const nlohmann::ordered_json& json, const std::string& source);

}  // namespace distill::checkpoint
