// `distill bench`: prefill (forward) and KV-cached decode throughput, per-token latency and peak
// memory of one or more models, side by side (the first one, e.g. the teacher, is the reference).
#include <ATen/ATen.h>
#include <torch/torch.h>

#include <chrono>
#include <iomanip>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "distill/cli/commands.h"
#include "distill/infer/decode_runner.h"
#include "distill/io/atomic_file.h"
#include "distill/models/init.h"
#include "distill/models/loader.h"
#include "distill/models/registry.h"
#include "distill/util/cuda_memory.h"
#include "distill/util/device.h"
#include "distill/util/errors.h"
#include "distill/util/logging.h"

namespace distill::cli {
namespace {

struct BenchOptions {
  std::vector<std::string> models;
  std::int64_t batch = 1;
  std::int64_t prompt_len = 512;
  std::int64_t gen_len = 0;  // decode steps after the prompt; 0: prefill only
  std::string dtype = "bf16";
  std::string device = "auto";
  int warmup = 2;
  int iters = 5;
  bool random_weights = false;
  bool no_cuda_graphs = false;
  std::string json_out;
};

nlohmann::json bench_one(const std::string& dir, const BenchOptions& o) {
  const at::ScalarType dtype = models::parse_dtype(o.dtype, "--dtype");
  const c10::Device device = resolve_device(o.device, "--device");
  models::CausalLM model{nullptr};
  if (o.random_weights) {
    models::ModelSpec spec = models::read_spec(dir);
    model = models::CausalLM(std::move(spec), at::TensorOptions().dtype(dtype).device(device));
    models::init_random(*model, 1234);
  } else {
    model = models::load_model(dir, {dtype, device, false});
  }
  model->eval();
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  const auto& spec = model->spec();
  std::int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();

  torch::NoGradGuard no_grad;
  const at::Tensor ids = at::randint(spec.vocab_size, {o.batch, o.prompt_len},
                                     at::TensorOptions().dtype(at::kLong).device(device));
  for (int i = 0; i < o.warmup; ++i) model->forward(ids);
  device_synchronize(device);
  cuda_reset_peak(device);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < o.iters; ++i) model->forward(ids);
  device_synchronize(device);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double tokens = static_cast<double>(o.batch * o.prompt_len) * o.iters;
  nlohmann::json decode = nullptr;
  if (o.gen_len > 0) {
    // Prefill the prompt into a KV cache, then gen_len single-token steps, each feeding back its
    // greedy token without leaving the device (no host round trip per token, as a server would).
    // `graphs`: the static-shape steps of infer::DecodeRunner (CUDA graphs on the GPU, unless
    // --no-cuda-graphs); otherwise the ordinary cached forward, launched op by op.
    auto run_decode = [&](std::int64_t steps, bool graphs) {
      models::KvCache cache(o.prompt_len + steps);
      models::ForwardOptions fo;
      fo.kv_cache = &cache;
      at::Tensor next = model->logits(model->hidden_states(ids, fo).select(1, o.prompt_len - 1)).argmax(-1, true);
      infer::DecodeRunnerOptions ro;
      ro.cuda_graphs = !o.no_cuda_graphs;
      infer::DecodeRunner runner(*model, cache, ro);
      device_synchronize(device);
      const auto t0 = std::chrono::steady_clock::now();
      for (std::int64_t s = 0; s < steps; ++s) {
        next = graphs ? runner.step(next).argmax(-1, true)
                      : model->logits(model->hidden_states(next, fo).select(1, 0)).argmax(-1, true);
      }
      device_synchronize(device);
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    // The first timed run meets most key lengths (and, with graphs, every bucket) for the first
    // time, as one `distill generate` does; the best of all runs is the steady state.
    auto measure = [&](bool graphs, double& first, double& best) {
      run_decode(std::min<std::int64_t>(o.gen_len, 8), graphs);  // warm-up
      for (int i = 0; i < std::max(1, o.iters / 2); ++i) {
        const double t = run_decode(o.gen_len, graphs);
        if (i == 0) first = t;
        best = i == 0 ? t : std::min(best, t);
      }
    };
    double first = 0.0, best = 0.0;
    measure(true, first, best);
    const double g = static_cast<double>(o.gen_len);
    decode = {{"gen_len", o.gen_len},
              {"cuda_graphs", device.is_cuda() && !o.no_cuda_graphs},
              {"decode_tokens_per_s", static_cast<double>(o.batch) * g / best},
              {"decode_ms_per_token", 1000.0 * best / g},
              {"decode_first_run_ms_per_token", 1000.0 * first / g}};
    if (device.is_cuda() && !o.no_cuda_graphs) {
      // The same steps without graphs, for the ratio (what the graphs save on the host).
      double eager_first = 0.0, eager_best = 0.0;
      measure(false, eager_first, eager_best);
      decode["decode_eager_ms_per_token"] = 1000.0 * eager_best / g;
    }
  }
  const std::int64_t peak = cuda_peak_allocated_bytes(device);
  nlohmann::json out = {{"model", dir},
          {"architecture", spec.architecture},
          {"parameters", params},
          {"dtype", models::dtype_label(dtype)},
          {"device", device.str()},
          {"batch", o.batch},
          {"prompt_len", o.prompt_len},
          {"iters", o.iters},
          {"random_weights", o.random_weights},
          {"prefill_tokens_per_s", tokens / seconds},
          {"prefill_ms_per_batch", 1000.0 * seconds / o.iters},
          {"peak_gib", peak < 0 ? nlohmann::json(nullptr) : nlohmann::json(static_cast<double>(peak) / (1 << 30))}};
  if (!decode.is_null()) out.update(decode);
  return out;
}

int run_bench(const BenchOptions& o) {
  if (o.batch < 1 || o.prompt_len < 1 || o.iters < 1 || o.warmup < 0 || o.gen_len < 0) {
    throw UsageError("--batch, --prompt-len and --iters must be >= 1, --warmup and --gen-len >= 0");
  }
  nlohmann::json results = nlohmann::json::array();
  for (const auto& dir : o.models) {
    log::info("bench {}: batch {} x {} tokens, {} warm-up + {} timed forwards", dir, o.batch, o.prompt_len, o.warmup,
              o.iters);
    results.push_back(bench_one(dir, o));
  }
  const bool decode = o.gen_len > 0;
  std::cout << std::left << std::setw(40) << "model" << std::right << std::setw(14) << "params" << std::setw(16)
            << "prefill tok/s";
  if (decode) std::cout << std::setw(15) << "decode tok/s" << std::setw(12) << "ms/token";
  std::cout << std::setw(10) << "peak GiB" << "\n";
  for (const auto& r : results) {
    std::cout << std::left << std::setw(40) << r["model"].get<std::string>() << std::right << std::setw(14)
              << r["parameters"].get<std::int64_t>() << std::setw(16) << std::fixed << std::setprecision(0)
              << r["prefill_tokens_per_s"].get<double>();
    if (decode) {
      std::cout << std::setw(15) << std::setprecision(1) << r["decode_tokens_per_s"].get<double>() << std::setw(12)
                << std::setprecision(2) << r["decode_ms_per_token"].get<double>();
    }
    std::cout << std::setw(10) << std::setprecision(2) << (r["peak_gib"].is_null() ? -1.0 : r["peak_gib"].get<double>())
              << "\n";
  }
  // Side by side against the first model (the teacher): how much faster and smaller the others are.
  for (size_t i = 1; i < results.size(); ++i) {
    const auto& ref = results[0];
    auto& r = results[i];
    const double speed = r["prefill_tokens_per_s"].get<double>() / ref["prefill_tokens_per_s"].get<double>();
    r["vs_first"] = {{"prefill_speedup", speed}};
    std::cout << r["model"].get<std::string>() << " vs " << ref["model"].get<std::string>() << ": prefill "
              << std::setprecision(2) << speed << "x";
    if (decode) {
      const double d = r["decode_tokens_per_s"].get<double>() / ref["decode_tokens_per_s"].get<double>();
      r["vs_first"]["decode_speedup"] = d;
      std::cout << ", decode " << d << "x";
    }
    if (!r["peak_gib"].is_null() && !ref["peak_gib"].is_null()) {
      const double m = r["peak_gib"].get<double>() / ref["peak_gib"].get<double>();
      r["vs_first"]["memory_fraction"] = m;
      std::cout << ", peak memory " << std::setprecision(3) << m << " of it";
    }
    std::cout << "\n";
  }
  if (!o.json_out.empty()) io::write_file_atomic(o.json_out, results.dump(2) + "\n");
  return 0;
}

}  // namespace

Command add_bench(CLI::App& root) {
  auto opts = std::make_shared<BenchOptions>();
  CLI::App* sub = root.add_subcommand("bench", "prefill and decode throughput, latency and peak memory of models");
  sub->add_option("--model", opts->models, "HF model folder (repeatable)")->required();
  sub->add_option("--batch", opts->batch, "sequences per forward (default 1)");
  sub->add_option("--prompt-len", opts->prompt_len, "tokens per sequence (default 512)");
  sub->add_option("--gen-len", opts->gen_len, "KV-cached decode steps after the prompt (default 0: prefill only)");
  sub->add_option("--dtype", opts->dtype, "fp32 | bf16 | fp16 (default bf16)");
  sub->add_option("--device", opts->device, "auto | cpu | cuda | cuda:N (default auto)");
  sub->add_option("--warmup", opts->warmup, "untimed forwards first (default 2)");
  sub->add_option("--iters", opts->iters, "timed forwards (default 5)");
  sub->add_flag("--random-weights", opts->random_weights,
                "build the model from config.json alone with random weights (throughput does not depend on values)");
  sub->add_flag("--no-cuda-graphs", opts->no_cuda_graphs,
                "on CUDA, launch every decode step op by op instead of replaying CUDA graphs");
  sub->add_option("--json", opts->json_out, "also write the results as JSON here");
  Command cmd;
  cmd.app = sub;
  cmd.run = [opts]() { return run_bench(*opts); };
  return cmd;
}

}  // namespace distill::cli
