// distill train's loss curve against an independent PyTorch + HF transformers run
// (scripts/golden_train_reference.py -> tests/data/golden/train_curve.safetensors): 10 AdamW steps of
// the tiny Qwen2 teacher / LLaMA student pair on the same fixed batches, fp32 on the CPU, once
// straight through and once stopped by SIGTERM after step 5 and resumed in a new process-like run.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <csignal>

#include "distill/checkpoint/run_dir.h"
#include "distill/config/config.h"
#include "distill/io/safetensors.h"
#include "distill/models/loader.h"
#include "distill/train/trainer.h"
#include "distill/util/errors.h"
#include "model_fixtures.h"
#include "test_support.h"
#include "train_fixtures.h"

namespace distill {
namespace {

using Json = nlohmann::ordered_json;

struct Golden {
  at::Tensor tokens;  // (steps, B, T + 1)
  std::map<std::string, at::Tensor> curves;  // loss, kd_loss, ce_loss, lr, grad_norm: (steps,) float64
};

Golden read_golden() {
  const auto file = io::Checkpoint::open(std::string(DISTILL_TEST_DATA_DIR) + "/golden/train_curve.safetensors");
  Golden g;
  g.tokens = file.tensor("tokens").clone();
  for (const char* key : {"loss", "kd_loss", "ce_loss", "lr", "grad_norm"}) g.curves[key] = file.tensor(key).clone();
  return g;
}

// The settings scripts/golden_train_reference.py hard-codes.
Json golden_config(const std::string& run_dir, std::int64_t steps) {
  return Json{{"teacher", {{"path", testing::model_dir("qwen2")}, {"dtype", "fp32"}}},
              {"student", {{"path", testing::model_dir("llama")}}},
              {"data", {{"train", {"unused"}}, {"seq_len", 16}}},
              // chunk_tokens 24 cuts the 64 tokens of a batch into uneven chunks: the fused loss is on trial too.
              {"loss", {{"kind", "forward_kl"}, {"temperature", 2.0}, {"alpha", 0.7}, {"chunk_tokens", 24}}},
              {"optim", {{"lr", 3e-3}, {"betas", {0.9, 0.999}}, {"eps", 1e-8}, {"weight_decay", 0.01},
                         {"decay_norms_and_biases", false}, {"grad_clip", 1.0}}},
              {"schedule", {{"warmup_steps", 2}, {"decay", "cosine"}, {"min_lr_ratio", 0.1}}},
              {"train", {{"device", "cpu"}, {"precision", "fp32"}, {"micro_batch", 4}, {"grad_accum", 1},
                         {"max_steps", steps}, {"log_every", 1}}},
              {"checkpoint", {{"dir", run_dir}, {"every_steps", 0}, {"keep_last", 2}}}};
}

void train(const Json& cfg_json, const at::Tensor& tokens, std::function<void(const train::Batch&)> hook = nullptr) {
  const config::Config cfg = config::parse(cfg_json, "golden");
  checkpoint::RunDir run_dir(cfg.checkpoint.dir);
  train::TrainerParts parts;
  parts.student = models::load_model(cfg.student.path, {at::kFloat, at::kCPU, true});
  parts.teacher = models::load_model(cfg.teacher->path, {at::kFloat, at::kCPU, false});
  testing::MemorySource source(tokens);
  parts.train = &source;
  parts.on_micro_batch = std::move(hook);
  train::Trainer(cfg, config::to_json(cfg), run_dir, parts).run(checkpoint::ResumeMode::kAuto);
}

void expect_matches_golden(const std::vector<Json>& rows, const Golden& g) {
  const std::int64_t steps = g.tokens.size(0);
  ASSERT_EQ(static_cast<std::int64_t>(rows.size()), steps);
  for (std::int64_t i = 0; i < steps; ++i) {
    EXPECT_EQ(rows[static_cast<size_t>(i)]["step"].get<std::int64_t>(), i + 1);
    for (const auto& [key, curve] : g.curves) {
      const double want = curve[i].item<double>();
      const double got = rows[static_cast<size_t>(i)][key].get<double>();
      const double tol = key == "lr" ? 1e-9 : 1e-3 * std::abs(want);
      EXPECT_NEAR(got, want, tol) << "step " << i + 1 << " " << key;
    }
  }
}

TEST(TrainGolden, LossCurveMatchesPyTorch) {
  const Golden g = read_golden();
  ASSERT_EQ(g.tokens.dim(), 3);
  testing::TempDir tmp;
  train(golden_config(tmp.file("run"), g.tokens.size(0)), g.tokens);
  expect_matches_golden(testing::read_metrics(tmp.file("run")), g);
}

TEST(TrainGolden, LossCurveMatchesPyTorchAcrossAResume) {
  const Golden g = read_golden();
  testing::TempDir tmp;
  const Json cfg = golden_config(tmp.file("run"), g.tokens.size(0));
  int calls = 0;
  try {
    train(cfg, g.tokens, [&](const train::Batch&) {
      if (++calls == 5) std::raise(SIGTERM);  // during step 5: it finishes, is saved, and the run stops
    });
    FAIL() << "expected the run to stop on SIGTERM";
  } catch (const Error& e) {
    ASSERT_EQ(e.code(), ExitCode::kInterrupted) << e.what();
  }
  ASSERT_EQ(testing::read_metrics(tmp.file("run")).size(), 5u);
  train(cfg, g.tokens);  // resumes at step 5
  expect_matches_golden(testing::read_metrics(tmp.file("run")), g);
}

}  // namespace
}  // namespace distill
