// Random initialisation: normal matrices, zero biases, unit norms, with each family's variations.
#include "distill/models/init.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace distill::models {
namespace {

bool is_norm(const std::string& name) { return name.find("norm.") != std::string::npos; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool is_bias(const std::string& name) { return ends_with(name, ".bias"); }
bool is_residual_projection(const std::string& name) {
  return ends_with(name, ".attn.o.weight") || ends_with(name, ".mlp.down.weight");
}

double config_number(const nlohmann::json& config, const char* key, double fallback) {
  return config.contains(key) && config[key].is_number() ? config[key].get<double>() : fallback;
}

// splitmix64's finaliser: independent-looking seeds from (seed, tensor, chunk).
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Host tensors of at least this many values are drawn in chunks on all cores, each chunk from its
// own generator (seeded from the run's seed, the tensor's position and the chunk, so the values do
// not depend on the number of cores), in fp32 (ATen's vectorised draw) and rounded to the tensor's
// dtype: a random 7B bf16 teacher kept in host memory (teacher.offload) took about 4 minutes
// through one generator, most of it ATen's one-value-at-a-time draw for bf16. Smaller tensors
// (every test model's) keep the one sequential generator and its values.
constexpr std::int64_t kParallelFrom = std::int64_t{1} << 24;
constexpr std::int64_t kChunk = std::int64_t{1} << 22;

bool drawn_in_chunks(const at::Tensor& p) {
  const auto t = p.scalar_type();
  return p.device().is_cpu() && p.numel() >= kParallelFrom && p.is_contiguous() &&
         (t == at::kFloat || t == at::kBFloat16 || t == at::kHalf);
}

template <typename T>
void round_into(const at::Tensor& flat, std::int64_t begin, const at::Tensor& values) {
  T* out = flat.data_ptr<T>() + begin;
  const float* in = values.data_ptr<float>();
  for (std::int64_t i = 0, n = values.numel(); i < n; ++i) out[i] = T(in[i]);
}

void normal_in_chunks(const at::Tensor& p, double sd, std::uint64_t seed, std::uint64_t index) {
  const at::Tensor flat = p.view({-1});
  const std::int64_t n = flat.numel(), chunks = (n + kChunk - 1) / kChunk;
  const auto type = flat.scalar_type();
  std::atomic<std::int64_t> next{0};
  std::mutex mutex;
  std::exception_ptr error;
  const auto work = [&] {
    const at::AutoGradMode no_grad(false);  // grad mode is per thread: the parameters are leaves
    at::Tensor staging;                     // fp32, one chunk
    for (std::int64_t c = next++; c < chunks; c = next++) {
      try {
        const std::int64_t begin = c * kChunk, len = std::min(kChunk, n - begin);
        auto gen = at::detail::createCPUGenerator(mix(mix(seed ^ mix(index)) + static_cast<std::uint64_t>(c)));
        if (type == at::kFloat) {
          flat.narrow(0, begin, len).normal_(0.0, sd, gen);
          continue;
        }
        if (!staging.defined()) staging = at::empty({kChunk}, at::TensorOptions().dtype(at::kFloat));
        const at::Tensor values = staging.narrow(0, 0, len).normal_(0.0, sd, gen);
        if (type == at::kBFloat16) {
          round_into<c10::BFloat16>(flat, begin, values);
        } else {
          round_into<c10::Half>(flat, begin, values);
        }
      } catch (...) {
        const std::lock_guard<std::mutex> lock(mutex);
        if (!error) error = std::current_exception();
      }
    }
  };
  const auto cores = static_cast<std::int64_t>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> threads;
  for (std::int64_t i = 1; i < std::min<std::int64_t>({cores, chunks, 64}); ++i) {
    try {
      threads.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // no more threads to be had: the ones running (and this one) draw the rest
    }
  }
  work();
  for (std::thread& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

void fill(CausalLMImpl& model, std::uint64_t seed, const InitScheme& scheme) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  std::uint64_t index = 0;
  for (auto& item : model.named_parameters()) {
    ++index;
    at::Tensor& p = item.value();
    const std::string& name = item.key();
    const double sd = is_residual_projection(name) ? scheme.residual_std : scheme.normal_std;
    if (is_norm(name)) {
      p.fill_(is_bias(name) ? 0.0 : 1.0);
    } else if (is_bias(name)) {
      p.zero_();
    } else if (drawn_in_chunks(p)) {
      normal_in_chunks(p, sd, seed, index);
    } else if (p.device().is_cpu()) {
      p.normal_(0.0, sd, gen);
    } else {
      // Draw on the device directly (a 7B model never passes through host memory); seeded per tensor.
      p.normal_(0.0, sd);
    }
    if (name == "embed.weight" && scheme.padding_row >= 0 && scheme.padding_row < p.size(0)) p[scheme.padding_row].zero_();
  }
}

}  // namespace

InitScheme init_scheme(const ModelSpec& spec) {
  const nlohmann::json& c = spec.hf_config;
  InitScheme s;
  s.normal_std = config_number(c, spec.family == "opt" ? "init_std" : "initializer_range", 0.02);
  s.residual_std = s.normal_std;
  if (spec.family == "gpt2" || spec.family == "qwen") {
    s.residual_std = s.normal_std / std::sqrt(2.0 * static_cast<double>(spec.num_layers));
  }
  // Every family but GPT-2 and the original Qwen builds its token embedding with padding_idx = pad_token_id.
  if (spec.family != "gpt2" && spec.family != "qwen" && c.contains("pad_token_id") &&
      c["pad_token_id"].is_number_integer()) {
    s.padding_row = c["pad_token_id"].get<std::int64_t>();
  }
  return s;
}

void init_random(CausalLMImpl& model, std::uint64_t seed) { fill(model, seed, init_scheme(model.spec())); }

void init_random(CausalLMImpl& model, std::uint64_t seed, double std) {
  InitScheme plain;
  plain.normal_std = plain.residual_std = std;
  fill(model, seed, plain);
}

}  // namespace distill::models
