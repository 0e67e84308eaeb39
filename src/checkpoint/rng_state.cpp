// Generator states as raw bytes: at::Generator::get_state/set_state on the default generators.
#include "distill/checkpoint/rng_state.h"

#include <ATen/Context.h>
#include <ATen/core/Generator.h>
#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>

#ifdef DISTILL_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

#include <cstring>
#include <mutex>

#include "distill/util/base64.h"
#include "distill/util/errors.h"
#include "distill/util/logging.h"

namespace distill::checkpoint {
namespace {

std::string state_of(at::Generator gen) {
  std::lock_guard<std::mutex> lock(gen.mutex());  // see LibTorch's Note [Acquire lock when using random generators]
  const at::Tensor state = gen.get_state().contiguous();  // (N,) uint8
  return std::string(static_cast<const char*>(state.data_ptr()), static_cast<std::size_t>(state.numel()));
}

void set_state(at::Generator gen, const std::string& bytes, const std::string& what, const std::string& source) {
  at::Tensor state = at::empty({static_cast<std::int64_t>(bytes.size())}, at::kByte);  // (N,) uint8
  std::memcpy(state.data_ptr(), bytes.data(), bytes.size());
  try {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
  } catch (const c10::Error& e) {
    const std::string m = e.what_without_backtrace();
    throw InputError(source, "the saved " + what + " random-generator state cannot be restored: " + m.substr(0, m.find('\n')));
  }
}

int cuda_devices() {
#ifdef DISTILL_WITH_CUDA
  return static_cast<int>(c10::cuda::device_count());
#else
  return 0;
#endif
}

}  // namespace

RngStates capture_rng_states() {
  RngStates states;
  states.cpu = state_of(at::globalContext().defaultGenerator(at::kCPU));
  for (int i = 0; i < cuda_devices(); ++i) {
    states.cuda.push_back(state_of(at::globalContext().defaultGenerator(c10::Device(at::kCUDA, static_cast<c10::DeviceIndex>(i)))));
  }
  return states;
}

void restore_rng_states(const RngStates& states, const std::string& source) {
  set_state(at::globalContext().defaultGenerator(at::kCPU), states.cpu, "CPU", source);
  const int devices = cuda_devices();
  if (static_cast<int>(states.cuda.size()) > devices) {
    log::warn("{}: the checkpoint holds random-generator states for {} CUDA devices, {} are visible now; "
              "the others are not restored", source, states.cuda.size(), devices);
  }
  for (int i = 0; i < devices && i < static_cast<int>(states.cuda.size()); ++i) {
    set_state(at::globalContext().defaultGenerator(c10::Device(at::kCUDA, static_cast<c10::DeviceIndex>(i))),
              states.cuda[static_cast<std::size_t>(i)], "CUDA device " + std::to_string(i), source);
  }
}

nlohmann::ordered_json rng_states_to_json(const RngStates& states) {
  nlohmann::ordered_json cuda = nlohmann::ordered_json::array();
  for (const std::string& s : states.cuda) cuda.push_back(base64_encode(s));
  return {{"cpu", base64_encode(states.cpu)}, {"cuda", cuda}};
}

RngStates rng_states_from_json(const nlohmann::ordered_json& json, const std::string& source) {
  auto decode = [&](const nlohmann::ordered_json& value, const std::string& key) {
    std::optional<std::string> bytes;
    if (value.is_string()) bytes = base64_decode(value.get<std::string>());
    if (!bytes) throw InputError(source, "\"rng\"." + key + " is not a base64 string");
    return *bytes;
  };
  if (!json.is_object() || !json.contains("cpu")) throw InputError(source, "\"rng\" must be an object with a \"cpu\" state");
  RngStates states;
  states.cpu = decode(json.at("cpu"), "cpu");
  if (json.contains("cuda")) {
    const auto& cuda = json.at("cuda");
    if (!cuda.is_array()) throw InputError(source, "\"rng\".cuda must be a list");
    for (std::size_t i = 0; i < cuda.size(); ++i) states.cuda.push_back(decode(cuda[i], "cuda[" + std::to_string(i) + "]"));
  }
  return states;
}

}  // namespace distill::checkpoint
