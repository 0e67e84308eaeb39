// GPU machine only (label "gpu"): the training loop on CUDA with the tiny fixtures: bf16 autocast and
// fp16 loss scaling follow the fp32 CPU run's losses within half-precision tolerance, a run stopped by
// SIGTERM and resumed repeats a straight one, activation checkpointing changes nothing but memory, and
// a teacher streamed from host memory changes nothing at all, and neither does a teacher run on a
// second stream beside the student (train.overlap_teacher).
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <cmath>
#include <csignal>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <set>

#include "distill/checkpoint/checkpoint.h"
#include "distill/checkpoint/run_dir.h"
#include "distill/config/config.h"
#include "distill/models/layer_streaming.h"
#include "distill/models/loader.h"
#include "distill/train/trainer.h"
#include "distill/util/errors.h"
#include "distill/util/weight_copies.h"
#include "model_fixtures.h"
#include "test_support.h"
#include "train_fixtures.h"

namespace distill {
namespace {

using Json = nlohmann::ordered_json;

Json cuda_config(const std::string& run_dir, const std::string& precision, std::int64_t steps) {
  return Json{{"teacher", {{"path", testing::model_dir("qwen2")}, {"dtype", "bf16"}}},
              {"student", {{"path", testing::model_dir("llama")}}},
              {"data", {{"train", {"unused"}}, {"seq_len", 64}}},
              {"loss", {{"kind", "forward_kl"}, {"temperature", 2.0}, {"alpha", 0.7}, {"chunk_tokens", 100}}},
              {"optim", {{"lr", 3e-3}, {"grad_clip", 1.0}}},
              {"schedule", {{"warmup_steps", 2}, {"decay", "cosine"}, {"min_lr_ratio", 0.1}}},
              {"train", {{"device", "cuda"}, {"precision", precision}, {"micro_batch", 4}, {"grad_accum", 2},
                         {"max_steps", steps}, {"log_every", 1}}},
              {"checkpoint", {{"dir", run_dir}, {"every_steps", 0}, {"keep_last", 2}}}};
}

// `tokens` (N, B, T + 1): the batches to train on; undefined: 3 random batches of micro_batch rows.
// on_student: called with the loaded student (a handle to the model being trained); result: the
// run's TrainResult.
std::vector<Json> train_run(const Json& cfg_json, std::function<void(const train::Batch&)> hook = nullptr,
                            const at::Tensor& tokens = {},
                            const std::function<void(models::CausalLM&)>& on_student = nullptr,
                            train::TrainResult* result = nullptr) {
  const config::Config cfg = config::parse(cfg_json, "test");
  const bool cuda = cfg.train.device == "cuda";
  torch::manual_seed(cfg.train.seed);
  checkpoint::RunDir run_dir(cfg.checkpoint.dir);
  train::TrainerParts parts;
  const at::Device device = cuda ? at::kCUDA : at::kCPU;
  parts.student = models::load_model(cfg.student.path, {at::kFloat, device, true});
  if (on_student) on_student(parts.student);
  const bool stream = cfg.teacher->offload == "layers";
  parts.teacher = models::load_model(cfg.teacher->path,
                                     {cuda ? at::kBFloat16 : at::kFloat, stream ? at::Device(at::kCPU) : device, false});
  if (stream) models::stream_layers_from_host(*parts.teacher, device, cfg.teacher->offload_layers);
  testing::MemorySource source = tokens.defined() ? testing::MemorySource(tokens)
                                                 : testing::MemorySource(3, cfg.train.micro_batch, cfg.data.seq_len, 11);
  parts.train = &source;
  testing::MemorySource valid(2, 2, cfg.data.seq_len, 13, /*finite=*/true);
  if (cfg.train.eval_every > 0) parts.valid = &valid;
  parts.on_micro_batch = std::move(hook);
  const train::TrainResult r = train::Trainer(cfg, config::to_json(cfg), run_dir, parts).run(checkpoint::ResumeMode::kAuto);
  if (result) *result = r;
  return testing::read_metrics(cfg.checkpoint.dir);
}

std::vector<Json> train_cuda(const Json& cfg_json) { return train_run(cfg_json); }

// The same run in fp32 on the CPU: the reference a half-precision CUDA run must stay close to.
std::vector<Json> train_cpu_fp32(const std::string& run_dir, std::int64_t steps) {
  Json cfg = cuda_config(run_dir, "fp32", steps);
  cfg["train"]["device"] = "cpu";
  cfg["teacher"]["dtype"] = "fp32";
  return train_run(cfg);
}

void expect_follows(const std::vector<Json>& rows, const std::vector<Json>& reference, double rel_tol) {
  ASSERT_EQ(rows.size(), reference.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (const char* key : {"loss", "kd_loss", "ce_loss", "grad_norm"}) {
      ASSERT_TRUE(rows[i].contains(key)) << key;
      const double want = reference[i][key].get<double>();
      // The gradient norm sums squares of many half-precision products: twice the loss tolerance.
      const double tol = (std::string(key) == "grad_norm" ? 2 : 1) * rel_tol * std::abs(want);
      EXPECT_NEAR(rows[i][key].get<double>(), want, tol) << "step " << i + 1 << " " << key;
    }
    EXPECT_TRUE(rows[i].contains("peak_mem_gib"));
  }
  EXPECT_LT(rows.back()["kd_loss"].get<double>(), rows.front()["kd_loss"].get<double>());
}

// Two runs that must give the same results, up to the student's non-deterministic bf16 backward:
// every key of `keys` the reference row has, within 1e-3 relative, row by row.
void expect_same_run(const std::vector<Json>& rows, const std::vector<Json>& reference,
                     std::initializer_list<const char*> keys = {"loss", "kd_loss", "ce_loss", "grad_norm"}) {
  ASSERT_EQ(rows.size(), reference.size());
  for (std::size_t i = 0; i < reference.size(); ++i) {
    for (const char* key : keys) {
      if (!reference[i].contains(key)) continue;
      ASSERT_TRUE(rows[i].contains(key)) << "row " << i << " " << key;
      const double want = reference[i][key].get<double>();
      EXPECT_NEAR(rows[i][key].get<double>(), want, 1e-3 * std::abs(want)) << "row " << i << " " << key;
    }
  }
}

TEST(TrainerCuda, Bf16AutocastFollowsTheFp32CpuRun) {
  ASSERT_TRUE(torch::cuda::is_available());
  testing::TempDir tmp;
  const auto reference = train_cpu_fp32(tmp.file("cpu"), 12);
  // bf16 keeps 8 bits of mantissa: losses agree to a few per cent, not to 1e-3.
  expect_follows(train_cuda(cuda_config(tmp.file("run"), "bf16", 12)), reference, 0.05);
}

TEST(TrainerCuda, Fp16WithLossScalingFollowsTheFp32CpuRun) {
  testing::TempDir tmp;
  const auto reference = train_cpu_fp32(tmp.file("cpu"), 12);
  const auto rows = train_cuda(cuda_config(tmp.file("run"), "fp16", 12));
  expect_follows(rows, reference, 0.02);
  ASSERT_TRUE(rows.back().contains("loss_scale"));
  EXPECT_GT(rows.back()["loss_scale"].get<double>(), 1.0);
}

// Step 3 of 6 made non-finite on purpose: the student's first weight is set to inf before the
// step's first micro-batch and put back before step 4's. With the check read a step late (the
// device skips the update itself) the run is the run of the check read at once: step 3 skipped and
// counted, the same losses, weights and optimizer counts at the end. log_every 4: step 3's flags are
// read during step 4 (a logged step reads its own, as the log waits for the device anyway).
TEST(TrainerCuda, FiniteCheckReadAStepLateSkipsLikeTheImmediateOne) {
  testing::TempDir tmp;
  const auto run = [&](const std::string& dir, bool defer, std::int64_t log_every, train::TrainResult* result) {
    train::set_defer_finite_check(defer);
    models::CausalLM student{nullptr};
    at::Tensor saved;
    int calls = 0;
    const auto hook = [&](const train::Batch&) {
      at::NoGradGuard no_grad;
      at::Tensor w = student->parameters().front().detach();
      if (++calls == 5) {  // grad_accum 2: micro-batches 5 and 6 are step 3
        saved = w.clone();
        w.fill_(std::numeric_limits<float>::infinity());
      } else if (calls == 7) {
        w.copy_(saved);
      }
    };
    Json cfg = cuda_config(tmp.file(dir), "bf16", 6);
    cfg["train"]["log_every"] = log_every;
    auto rows = train_run(cfg, hook, {}, [&](models::CausalLM& s) { student = s; }, result);
    train::set_defer_finite_check(true);
    return rows;
  };
  train::TrainResult now_result, late_result, logged_result;
  const auto now = run("now", false, 4, &now_result);
  const auto late = run("late", true, 4, &late_result);
  EXPECT_EQ(now_result.checks_read_late, 0);
  EXPECT_EQ(late_result.checks_read_late, 6) << "the bf16 CUDA run reads its checks late";
  EXPECT_EQ(now_result.skipped_steps, 1);
  EXPECT_EQ(late_result.skipped_steps, 1);
  ASSERT_EQ(now.size(), 3u);  // steps 1, 4 and 6
  expect_same_run(late, now);
  for (const auto& row : late) EXPECT_FALSE(row["skipped"].get<bool>()) << row.dump();

  const auto a = checkpoint::load_newest_checkpoint(tmp.file("late"));
  const auto b = checkpoint::load_newest_checkpoint(tmp.file("now"));
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->optimizer.size(), b->optimizer.size());
  for (std::size_t i = 0; i < a->optimizer.size(); ++i) {
    const auto& [name, t] = a->optimizer[i];
    if (t.scalar_type() != at::kLong) continue;
    EXPECT_EQ(t.item<std::int64_t>(), 5) << name << ": 6 steps, one skipped";
    EXPECT_TRUE(at::equal(t, b->optimizer[i].second)) << name;
  }
  ASSERT_EQ(a->model.size(), b->model.size());
  for (std::size_t i = 0; i < a->model.size(); ++i) {
    const at::Tensor x = a->model[i].second.to(at::kFloat), y = b->model[i].second.to(at::kFloat);
    EXPECT_TRUE(x.isfinite().all().item<bool>()) << a->model[i].first;
    EXPECT_LT((x - y).abs().max().item<double>(), 1e-3 * (1.0 + y.abs().max().item<double>())) << a->model[i].first;
  }

  // Every step logged: each row says whether its step was skipped.
  const auto logged = run("logged", true, 1, &logged_result);
  ASSERT_EQ(logged.size(), 6u);
  for (std::size_t i = 0; i < logged.size(); ++i) EXPECT_EQ(logged[i]["skipped"].get<bool>(), i == 2) << "step " << i + 1;
  EXPECT_EQ(logged_result.skipped_steps, 1);
}

// bf16 training with the optimizer's bf16 weight copies (read by the products in place of casts
// from the second step on) is the run with the casts: the copy is the cast's value.
TEST(TrainerCuda, WeightCopiesGiveTheCastsRun) {
  testing::TempDir tmp;
  set_weight_copies_enabled(false);
  const auto casts = train_cuda(cuda_config(tmp.file("casts"), "bf16", 6));
  set_weight_copies_enabled(true);  // the default
  const std::int64_t reads = weight_copy_reads();
  const auto copies = train_cuda(cuda_config(tmp.file("copies"), "bf16", 6));
  EXPECT_GT(weight_copy_reads(), reads) << "the products read the optimizer's copies";
  expect_same_run(copies, casts);
  EXPECT_EQ(weight_copies(), 0) << "the trainer's optimizer forgot its copies";
}

TEST(TrainerCuda, ResumedRunRepeatsTheStraightOne) {
  testing::TempDir tmp;
  const auto straight = train_cuda(cuda_config(tmp.file("straight"), "bf16", 8));
  int calls = 0;
  try {
    // grad_accum 2: the 7th micro-batch belongs to step 4, which finishes and is saved.
    train_run(cuda_config(tmp.file("resumed"), "bf16", 8), [&](const train::Batch&) {
      if (++calls == 7) std::raise(SIGTERM);
    });
    FAIL() << "expected the run to stop on SIGTERM";
  } catch (const Error& e) {
    ASSERT_EQ(e.code(), ExitCode::kInterrupted) << e.what();
  }
  const auto resumed = train_cuda(cuda_config(tmp.file("resumed"), "bf16", 8));
  expect_same_run(resumed, straight);
}

TEST(TrainerCuda, GradCheckpointingGivesTheSameLosses) {
  testing::TempDir tmp;
  const auto plain = train_cuda(cuda_config(tmp.file("plain"), "bf16", 6));
  Json cfg = cuda_config(tmp.file("ckpt"), "bf16", 6);
  cfg["train"]["grad_checkpointing"] = true;
  const auto recomputed = train_cuda(cfg);
  ASSERT_EQ(recomputed.size(), plain.size());
  for (std::size_t i = 0; i < plain.size(); ++i) {
    const double want = plain[i]["loss"].get<double>();
    EXPECT_NEAR(recomputed[i]["loss"].get<double>(), want, 1e-3 * std::abs(want)) << "step " << i + 1;
  }
}

// teacher.offload = "layers": the teacher's layers stream from host memory; the losses are the
// resident teacher's (the same kernels read the same weights; the bound only leaves room for the
// student's non-deterministic backward, as in the resume test).
TEST(TrainerCuda, StreamedTeacherGivesTheSameLosses) {
  testing::TempDir tmp;
  const auto resident = train_cuda(cuda_config(tmp.file("resident"), "bf16", 6));
  Json cfg = cuda_config(tmp.file("streamed"), "bf16", 6);
  cfg["teacher"]["offload"] = "layers";
  const auto streamed = train_cuda(cfg);
  expect_same_run(streamed, resident);
}

// 5 batches of 4 x (64 + 1) random tokens, the same for every run with the same seed.
at::Tensor five_batches(std::uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::randint(1000, {5, 4, 65}, gen, at::kLong);
}

// teacher.offload_layers: one layer streamed, the rest resident, with the teacher a micro-batch
// ahead on its side stream (the benchmarks' configuration): the losses are the plain run's.
TEST(TrainerCuda, PartlyStreamedOverlappedTeacherGivesThePlainRunsLosses) {
  testing::TempDir tmp;
  const at::Tensor tokens = five_batches(13);
  Json cfg = cuda_config(tmp.file("partly"), "bf16", 6);
  cfg["teacher"]["offload"] = "layers";
  cfg["teacher"]["offload_layers"] = 1;
  cfg["train"]["overlap_teacher"] = true;
  const auto partly = train_run(cfg, nullptr, tokens);
  const auto plain = train_run(cuda_config(tmp.file("plain"), "bf16", 6), nullptr, tokens);
  expect_same_run(partly, plain);
}

// train.overlap_teacher: the next micro-batch's teacher forward (the next step's first, for the
// last) runs on a second stream beside the student's work on the one before, the student's stream
// at high priority. Nothing is cut, and the losses are those of the plain run.
TEST(TrainerCuda, OverlappedTeacherGivesThePlainRunsLosses) {
  testing::TempDir tmp;
  const at::Tensor tokens = five_batches(11);
  Json cfg = cuda_config(tmp.file("overlapped"), "bf16", 6);
  cfg["train"]["overlap_teacher"] = true;
  std::vector<std::int64_t> piece_rows;
  const auto overlapped = train_run(cfg, [&](const train::Batch& b) { piece_rows.push_back(b.input_ids.size(0)); },
                                    tokens);
  ASSERT_EQ(piece_rows.size(), 6u * 2u);  // 6 steps x grad_accum 2, uncut
  for (std::int64_t rows : piece_rows) EXPECT_EQ(rows, 4);
  const auto plain = train_run(cuda_config(tmp.file("plain"), "bf16", 6), nullptr, tokens);
  expect_same_run(overlapped, plain);
}

// The same with the teacher streamed from host memory (its layer slots and copy stream are used
// from the side stream) and validation between steps (the teacher on the main stream, after the
// side stream's work).
TEST(TrainerCuda, OverlappedStreamedTeacherWithValidationGivesThePlainRunsLosses) {
  testing::TempDir tmp;
  const at::Tensor tokens = five_batches(12);
  Json cfg = cuda_config(tmp.file("overlapped"), "bf16", 6);
  cfg["teacher"]["offload"] = "layers";
  cfg["train"]["overlap_teacher"] = true;
  cfg["train"]["eval_every"] = 2;
  cfg["data"]["valid"] = {"unused"};
  const auto overlapped = train_run(cfg, nullptr, tokens);
  Json plain_cfg = cuda_config(tmp.file("plain"), "bf16", 6);
  plain_cfg["train"]["eval_every"] = 2;
  plain_cfg["data"]["valid"] = {"unused"};
  const auto plain = train_run(plain_cfg, nullptr, tokens);
  ASSERT_EQ(plain.size(), 6u + 3u);  // 6 steps, validation after steps 2, 4 and at the end
  expect_same_run(overlapped, plain, {"loss", "kd_loss", "ce_loss", "grad_norm", "val_loss", "val_kd_loss"});
}

// train.trace_steps on CUDA: trace.json holds the steps' kernels, and with train.overlap_teacher
// they run on two streams (the teacher's and the student's).
TEST(TrainerCuda, TraceShowsTheTeacherOnItsOwnStream) {
  testing::TempDir tmp;
  Json cfg = cuda_config(tmp.file("traced"), "bf16", 5);
  cfg["train"]["overlap_teacher"] = true;
  cfg["train"]["trace_steps"] = 2;
  train_run(cfg);
  std::ifstream f(tmp.file("traced") + "/trace.json");
  ASSERT_TRUE(f.good()) << "no trace.json";
  const Json trace = Json::parse(f);
  std::set<std::int64_t> streams;
  std::int64_t kernels = 0;
  for (const Json& e : trace.at("traceEvents")) {
    if (e.value("cat", "") != "kernel") continue;
    ++kernels;
    if (e.contains("args") && e["args"].contains("stream")) streams.insert(e["args"]["stream"].get<std::int64_t>());
  }
  EXPECT_GT(kernels, 200);
  EXPECT_GE(streams.size(), 2u);
}

}  // namespace
}  // namespace distill
