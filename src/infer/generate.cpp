// Incremental decoding with the model's KV cache.
#include "distill/infer/generate.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <string>

#include "distill/infer/decode_runner.h"
#include "distill/util/errors.h"

namespace distill::infer {
namespace {

// Next token from the last position's logits (V), fp32.
std::int64_t choose(at::Tensor logits, const GenerateOptions& o, at::Generator& gen) {
  if (o.temperature <= 0.0) return logits.argmax().item<std::int64_t>();
  logits = logits / o.temperature;
  if (o.top_k > 0 && o.top_k < logits.size(0)) {
    const at::Tensor kth = std::get<0>(logits.topk(o.top_k)).min();
    logits = logits.masked_fill(logits.lt(kth), -std::numeric_limits<float>::infinity());
  }
  at::Tensor probs = at::softmax(logits, 0);
  if (o.top_p < 1.0) {
    auto [sorted, order] = probs.sort(0, /*descending=*/true);
    const at::Tensor before = sorted.cumsum(0) - sorted;  // probability mass ahead of each token
    sorted = sorted.masked_fill(before.ge(o.top_p), 0.0);  // the most likely token always stays
    probs = at::zeros_like(probs).scatter_(0, order, sorted);
  }
  return at::multinomial(probs.to(at::kCPU).to(at::kDouble), 1, false, gen).item<std::int64_t>();
}

}  // namespace

std::vector<std::int64_t> eos_ids_of(const models::CausalLMImpl& model) {
  std::vector<std::int64_t> out;
  const auto& cfg = model.spec().hf_config;
  const auto it = cfg.find("eos_token_id");
  if (it == cfg.end()) return out;
  if (it->is_number_integer()) out.push_back(it->get<std::int64_t>());
  if (it->is_array()) {
    for (const auto& v : *it) {
      if (v.is_number_integer()) out.push_back(v.get<std::int64_t>());
    }
  }
  return out;
}

std::vector<std::int64_t> generate(models::CausalLMImpl& model, const std::vector<std::int64_t>& prompt,
                                   const GenerateOptions& o, const std::function<void(std::int64_t)>& on_token) {
  const models::ModelSpec& spec = model.spec();
  if (prompt.empty()) throw UsageError("the prompt is empty", "give at least one token of prompt");
  for (std::int64_t id : prompt) {
    if (id < 0 || id >= spec.vocab_size) {
      throw UsageError("prompt token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                       std::to_string(spec.vocab_size) + ")");
    }
  }
  const auto total = static_cast<std::int64_t>(prompt.size()) + o.max_new_tokens;
  if (spec.max_positions > 0 && total > spec.max_positions) {
    throw UsageError("prompt (" + std::to_string(prompt.size()) + " tokens) + --max-new-tokens (" +
                         std::to_string(o.max_new_tokens) + ") exceeds the model's context of " +
                         std::to_string(spec.max_positions) + " tokens",
                     "shorten the prompt or lower --max-new-tokens");
  }
  if (o.top_p <= 0.0 || o.top_p > 1.0) throw UsageError("--top-p must be in (0, 1]");
  if (o.top_k < 0) throw UsageError("--top-k must be >= 0");

  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(o.seed);
  models::KvCache cache(total);
  models::ForwardOptions fo;
  fo.kv_cache = &cache;
  const auto long_opts = at::TensorOptions().dtype(at::kLong).device(model.device());
  const at::Tensor input = at::tensor(prompt, at::kLong).to(model.device()).unsqueeze(0);
  // The prompt in one cached forward, then one token per step in static-shape form (CUDA graphs on
  // the GPU). The last token never needs its own step.
  const at::Tensor hidden = model.hidden_states(input, fo);  // (1, T, E)
  at::Tensor logits = model.logits(hidden.select(1, hidden.size(1) - 1)).squeeze(0).to(at::kFloat);
  DecodeRunnerOptions ro;
  ro.cuda_graphs = o.cuda_graphs;
  DecodeRunner runner(model, cache, ro);
  std::vector<std::int64_t> out;
  for (std::int64_t step = 0; step < o.max_new_tokens; ++step) {
    if (step > 0) logits = runner.step(at::full({1, 1}, out.back(), long_opts)).squeeze(0).to(at::kFloat);
    const std::int64_t next = choose(logits, o, gen);
    out.push_back(next);
    if (on_token) on_token(next);
    bool stop = false;
    for (std::int64_t e : o.eos_ids) stop = stop || next == e;
    if (stop) break;
  }
  return out;
}

}  // namespace distill::infer
