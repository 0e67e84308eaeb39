// The training loop on tiny fixture models (CPU, fp32): losses, accumulation, resume bit-exactness,
// checkpoints, non-finite steps, signals and the out-of-memory path.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <csignal>
#include <fstream>

#include "distill/checkpoint/run_dir.h"
#include "distill/checkpoint/tensorboard.h"
#include "distill/config/config.h"
#include "distill/models/loader.h"
#include "distill/train/trainer.h"
#include "distill/util/errors.h"
#include "distill/util/files.h"
#include "model_fixtures.h"
#include "test_support.h"
#include "tfevents_test_reader.h"
#include "train_fixtures.h"

namespace distill {
namespace {

using Json = nlohmann::ordered_json;
using testing::TempDir;

using testing::MemorySource;
using testing::read_metrics;

Json base_config(const std::string& run_dir) {
  return Json{{"teacher", {{"path", testing::model_dir("qwen2")}, {"dtype", "fp32"}}},
              {"student", {{"path", testing::model_dir("llama")}}},
              {"data", {{"train", {"unused"}}, {"seq_len", 16}}},
              {"loss", {{"kind", "forward_kl"}, {"temperature", 2.0}, {"alpha", 0.7}, {"chunk_tokens", 24}}},
              {"optim", {{"lr", 3e-3}, {"grad_clip", 1.0}}},
              {"schedule", {{"warmup_steps", 2}, {"decay", "cosine"}, {"min_lr_ratio", 0.1}}},
              {"train", {{"device", "cpu"}, {"precision", "fp32"}, {"micro_batch", 4}, {"grad_accum", 1},
                         {"max_steps", 6}, {"log_every", 1}}},
              {"checkpoint", {{"dir", run_dir}, {"every_steps", 3}, {"keep_last", 2}}}};
}

struct TrainRun {
  std::vector<Json> metrics;  // metrics.jsonl rows
  train::TrainResult result;
};

// The run's TensorBoard events after the file_version record, as (step, [(tag, value)]).
std::vector<std::pair<std::int64_t, std::vector<std::pair<std::string, float>>>> read_events(const std::string& run_dir) {
  const auto events = testing::tfevents::read_events(files::join(run_dir, checkpoint::kTensorBoardEventsFile));
  std::vector<std::pair<std::int64_t, std::vector<std::pair<std::string, float>>>> out;
  if (events.empty() || events[0].file_version != "brain.Event:2") {
    ADD_FAILURE() << "the events file does not start with file_version";
    return out;
  }
  for (size_t i = 1; i < events.size(); ++i) out.emplace_back(events[i].step, events[i].values);
  return out;
}

// One `distill train` process: fresh models from the fixtures, a fresh data source, the run dir.
TrainRun train_once(const Json& cfg_json, checkpoint::ResumeMode mode = checkpoint::ResumeMode::kAuto,
               std::function<void(const train::Batch&)> hook = nullptr, MemorySource* source = nullptr) {
  const config::Config cfg = config::parse(cfg_json, "test");
  torch::manual_seed(cfg.train.seed);
  checkpoint::RunDir run_dir(cfg.checkpoint.dir);
  train::TrainerParts parts;
  parts.student = models::load_model(cfg.student.path, {at::kFloat, at::kCPU, true});
  if (cfg.teacher) parts.teacher = models::load_model(cfg.teacher->path, {at::kFloat, at::kCPU, false});
  MemorySource own(5, cfg.train.micro_batch, cfg.data.seq_len, 99);
  parts.train = source ? source : &own;
  parts.on_micro_batch = std::move(hook);
  train::Trainer trainer(cfg, config::to_json(cfg), run_dir, parts);
  TrainRun run;
  run.result = trainer.run(mode);
  run.metrics = read_metrics(cfg.checkpoint.dir);
  return run;
}

// The logged loss, its parts and the gradient norm of two runs agree step by step (to the bit when
// tol is 0).
void expect_same_losses(const TrainRun& run, const TrainRun& reference, double tol) {
  ASSERT_EQ(run.metrics.size(), reference.metrics.size());
  for (size_t i = 0; i < reference.metrics.size(); ++i) {
    for (const char* key : {"loss", "kd_loss", "ce_loss", "grad_norm"}) {
      const double got = run.metrics[i][key].get<double>(), want = reference.metrics[i][key].get<double>();
      if (tol == 0.0) {
        EXPECT_EQ(got, want) << "step " << i + 1 << " " << key;
      } else {
        EXPECT_NEAR(got, want, tol) << "step " << i + 1 << " " << key;
      }
    }
  }
}

TEST(Trainer, LogsEveryStepWithTheDocumentedFields) {
  TempDir tmp;
  const TrainRun run = train_once(base_config(tmp.file("run")));
  ASSERT_EQ(run.metrics.size(), 6u);
  for (size_t i = 0; i < run.metrics.size(); ++i) {
    const Json& row = run.metrics[i];
    EXPECT_EQ(row["step"].get<int>(), static_cast<int>(i) + 1);
    for (const char* key : {"loss", "kd_loss", "ce_loss", "lr", "grad_norm", "tokens_per_s", "teacher_entropy",
                            "student_entropy"}) {
      ASSERT_TRUE(row.contains(key)) << key;
    }
    // loss = alpha * kd + (1 - alpha) * ce, each step.
    EXPECT_NEAR(row["loss"].get<double>(), 0.7 * row["kd_loss"].get<double>() + 0.3 * row["ce_loss"].get<double>(), 1e-5);
  }
  EXPECT_DOUBLE_EQ(run.metrics[0]["lr"].get<double>(), 0.0);       // warmup starts at 0 (HF convention)
  EXPECT_DOUBLE_EQ(run.metrics[2]["lr"].get<double>(), 3e-3);      // step index 2 = end of warmup: peak
  EXPECT_LT(run.metrics[5]["lr"].get<double>(), 3e-3);             // decaying
  EXPECT_EQ(run.result.steps_done, 6);
  // The TensorBoard event file holds the same rows: every number as train/<key>, "skipped" left out.
  const auto events = read_events(tmp.file("run"));
  ASSERT_EQ(events.size(), run.metrics.size());
  for (size_t i = 0; i < events.size(); ++i) {
    const Json& row = run.metrics[i];
    EXPECT_EQ(events[i].first, row["step"].get<std::int64_t>());
    std::vector<std::pair<std::string, float>> expected;
    for (const auto& [key, value] : row.items()) {
      if (key != "step" && value.is_number()) expected.emplace_back("train/" + key, static_cast<float>(value.get<double>()));
    }
    EXPECT_EQ(events[i].second, expected) << "step " << i + 1;
    for (const auto& [tag, v] : events[i].second) EXPECT_NE(tag, "train/skipped");
  }
}

// Validation at step 0 (train.eval_at_start) reports the student's and the frozen teacher's
// perplexity; both equal exp(mean cross-entropy) computed directly from each model's logits.
TEST(Trainer, ValidationReportsStudentAndTeacherPerplexity) {
  TempDir tmp;
  Json cfg_json = base_config(tmp.file("run"));
  cfg_json["train"]["max_steps"] = 2;
  cfg_json["train"]["eval_at_start"] = true;
  const config::Config cfg = config::parse(cfg_json, "test");
  checkpoint::RunDir run_dir(cfg.checkpoint.dir);
  train::TrainerParts parts;
  parts.student = models::load_model(cfg.student.path, {at::kFloat, at::kCPU, true});
  parts.teacher = models::load_model(cfg.teacher->path, {at::kFloat, at::kCPU, false});
  MemorySource train_source(5, 4, 16, 99);
  MemorySource valid_source(3, 2, 16, 5, /*finite=*/true);
  parts.train = &train_source;
  parts.valid = &valid_source;
  // The direct computation, before training changes the student.
  auto direct_ce = [&](models::CausalLM& model) {
    torch::NoGradGuard no_grad;
    double sum = 0;
    std::int64_t n = 0;
    valid_source.rewind();
    while (auto b = valid_source.next()) {
      const at::Tensor logits = model->forward(b->input_ids).to(at::kDouble);
      sum += at::cross_entropy_loss(logits.flatten(0, 1), b->labels.flatten(), {}, at::Reduction::Sum).item<double>();
      n += b->labels.numel();
    }
    return sum / static_cast<double>(n);
  };
  const double student_ce = direct_ce(parts.student), teacher_ce = direct_ce(parts.teacher);
  train::Trainer(cfg, config::to_json(cfg), run_dir, parts).run(checkpoint::ResumeMode::kAuto);
  const auto rows = read_metrics(cfg.checkpoint.dir);
  ASSERT_FALSE(rows.empty());
  const Json& first = rows.front();
  EXPECT_EQ(first["step"].get<int>(), 0);
  EXPECT_NEAR(first["val_ce_loss"].get<double>(), student_ce, 1e-4);
  EXPECT_NEAR(first["val_ppl"].get<double>(), std::exp(student_ce), 1e-3 * std::exp(student_ce));
  EXPECT_NEAR(first["val_teacher_ppl"].get<double>(), std::exp(teacher_ce), 1e-3 * std::exp(teacher_ce));
  EXPECT_EQ(first["val_tokens"].get<int>(), 3 * 2 * 16);
  // The final validation repeats the teacher's (unchanged) perplexity.
  EXPECT_DOUBLE_EQ(rows.back()["val_teacher_ppl"].get<double>(), first["val_teacher_ppl"].get<double>());
}

TEST(Trainer, KdLossFallsOnRepeatedBatches) {
  TempDir tmp;
  Json cfg = base_config(tmp.file("run"));
  cfg["train"]["max_steps"] = 30;
  cfg["checkpoint"]["every_steps"] = 0;
  const TrainRun run = train_once(cfg);
  ASSERT_EQ(run.metrics.size(), 30u);
  EXPECT_LT(run.metrics.back()["kd_loss"].get<double>(), 0.8 * run.metrics[2]["kd_loss"].get<double>());
}

// Stopping after step 3 and resuming in a new trainer gives metrics identical to one straight run.
TEST(Trainer, ResumeIsBitExactOnCpu) {
  TempDir tmp;
  const TrainRun straight = train_once(base_config(tmp.file("straight")));
  Json first = base_config(tmp.file("resumed"));
  first["train"]["max_steps"] = 3;
  const TrainRun part1 = train_once(first);
  EXPECT_EQ(part1.result.steps_done, 3);
  const TrainRun part2 = train_once(base_config(tmp.file("resumed")), checkpoint::ResumeMode::kAlways);
  EXPECT_EQ(part2.result.resumed_from, 3);
  ASSERT_EQ(part2.metrics.size(), straight.metrics.size());
  for (size_t i = 0; i < straight.metrics.size(); ++i) {
    for (const char* key : {"loss", "kd_loss", "ce_loss", "lr", "grad_norm"}) {
      EXPECT_EQ(part2.metrics[i][key].get<double>(), straight.metrics[i][key].get<double>())
          << "step " << i + 1 << " " << key;
    }
  }
  // The resumed run's TensorBoard events: each step once, cut back and continued like metrics.jsonl.
  const auto straight_events = read_events(tmp.file("straight"));
  const auto resumed_events = read_events(tmp.file("resumed"));
  ASSERT_EQ(resumed_events.size(), straight.metrics.size());
  for (size_t i = 0; i < resumed_events.size(); ++i) {
    EXPECT_EQ(resumed_events[i].first, static_cast<std::int64_t>(i) + 1);
    const auto& a = resumed_events[i].second;
    const auto& b = straight_events.at(i).second;
    ASSERT_EQ(a.size(), b.size()) << "step " << i + 1;
    for (size_t k = 0; k < a.size(); ++k) {
      EXPECT_EQ(a[k].first, b[k].first);
      if (a[k].first != "train/tokens_per_s") {  // a timing, not a result
        EXPECT_EQ(a[k].second, b[k].second) << "step " << i + 1 << " " << a[k].first;
      }
    }
  }
}

// Two micro-batches of 2 accumulate to the step one micro-batch of 4 takes.
TEST(Trainer, GradientAccumulationMatchesOneLargeBatch) {
  TempDir tmp;
  Json big = base_config(tmp.file("big"));
  big["train"]["max_steps"] = 3;
  MemorySource big_source(5, 4, 16, 7);
  const TrainRun a = train_once(big, checkpoint::ResumeMode::kAuto, nullptr, &big_source);
  Json small = base_config(tmp.file("small"));
  small["train"]["max_steps"] = 3;
  small["train"]["micro_batch"] = 2;
  small["train"]["grad_accum"] = 2;
  // The same sequences, cut in halves.
  MemorySource small_source(5, 4, 16, 7);
  struct Halves : train::BatchSource {
    MemorySource* inner;
    std::optional<train::Batch> pending;
    explicit Halves(MemorySource* s) : inner(s) {}
    std::optional<train::Batch> next() override {
      if (pending) {
        auto b = std::move(pending);
        pending.reset();
        return b;
      }
      auto b = inner->next();
      pending = train::Batch{b->input_ids.narrow(0, 2, 2), b->labels.narrow(0, 2, 2), {}};
      return train::Batch{b->input_ids.narrow(0, 0, 2), b->labels.narrow(0, 0, 2), {}};
    }
    Json position() const override { return inner->position(); }
    void seek(const Json& p) override { inner->seek(p); }
    void rewind() override { inner->rewind(); }
  } halves(&small_source);
  const config::Config cfg = config::parse(small, "test");
  torch::manual_seed(cfg.train.seed);
  checkpoint::RunDir run_dir(cfg.checkpoint.dir);
  train::TrainerParts parts;
  parts.student = models::load_model(cfg.student.path, {at::kFloat, at::kCPU, true});
  parts.teacher = models::load_model(cfg.teacher->path, {at::kFloat, at::kCPU, false});
  parts.train = &halves;
  train::Trainer(cfg, config::to_json(cfg), run_dir, parts).run(checkpoint::ResumeMode::kAuto);
  const auto rows = read_metrics(cfg.checkpoint.dir);
  ASSERT_EQ(rows.size(), a.metrics.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_NEAR(rows[i]["loss"].get<double>(), a.metrics[i]["loss"].get<double>(), 1e-5) << i;
    EXPECT_NEAR(rows[i]["grad_norm"].get<double>(), a.metrics[i]["grad_norm"].get<double>(), 1e-4) << i;
  }
}

TEST(Trainer, CheckpointHoldsTheTrainedStudentInHfLayout) {
  TempDir tmp;
  Json cfg = base_config(tmp.file("run"));
  const config::Config parsed = config::parse(cfg, "test");
  train_once(cfg);
  const auto ckpt = checkpoint::load_newest_checkpoint(tmp.file("run"));
  ASSERT_TRUE(ckpt.has_value());
  EXPECT_EQ(ckpt->state.step, 6);
  // The checkpoint's weights load into a fresh student through the ordinary HF loader.
  models::CausalLM fresh = models::load_model(parsed.student.path);
  models::load_weights(*fresh, ckpt->model, ckpt->dir);
  models::CausalLM original = models::load_model(parsed.student.path);
  bool changed = false;
  auto trained = fresh->named_parameters();
  for (const auto& item : original->named_parameters()) changed = changed || !at::equal(item.value(), trained[item.key()]);
  EXPECT_TRUE(changed) << "training did not change the student";
}

TEST(Trainer, CeOnlyNeedsNoTeacher) {
  TempDir tmp;
  Json cfg = base_config(tmp.file("run"));
  cfg["teacher"] = nullptr;
  cfg["loss"]["kind"] = "ce";
  cfg["train"]["max_steps"] = 2;
  const TrainRun run = train_once(cfg);
  ASSERT_EQ(run.metrics.size(), 2u);
  EXPECT_EQ(run.metrics[0]["kd_loss"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(run.metrics[0]["loss"].get<double>(), run.metrics[0]["ce_loss"].get<double>());
}

TEST(Trainer, ConsecutiveNonFiniteLossesStopTheRun) {
  TempDir tmp2;
  Json bad = base_config(tmp2.file("run"));
  bad["optim"]["lr"] = 1e30;  // the first update blows the weights up; the following losses are non-finite
  bad["schedule"]["warmup_steps"] = 0;
  bad["train"]["max_nonfinite_steps"] = 2;
  try {
    train_once(bad);
    FAIL() << "expected the run to stop after 2 non-finite steps";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kInternal);
    EXPECT_NE(std::string(e.what()).find("consecutive non-finite"), std::string::npos) << e.what();
  }
  const auto rows = read_metrics(tmp2.file("run"));
  ASSERT_GE(rows.size(), 2u);
  EXPECT_TRUE(rows.back()["skipped"].get<bool>());
}

TEST(Trainer, SigtermSavesAndExitsFive) {
  TempDir tmp;
  Json cfg = base_config(tmp.file("run"));
  cfg["checkpoint"]["every_steps"] = 0;
  int calls = 0;
  try {
    train_once(cfg, checkpoint::ResumeMode::kAuto, [&](const train::Batch&) {
      if (++calls == 2) std::raise(SIGTERM);  // during step 2
    });
    FAIL() << "expected InterruptedError";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kInterrupted) << e.what();
  }
  const auto ckpt = checkpoint::load_newest_checkpoint(tmp.file("run"));
  ASSERT_TRUE(ckpt.has_value());
  EXPECT_EQ(ckpt->state.step, 2) << "the step in progress finishes, then it is saved";
  // Resuming continues to the end.
  const TrainRun rest = train_once(cfg);
  EXPECT_EQ(rest.result.resumed_from, 2);
  EXPECT_EQ(rest.metrics.size(), 6u);
}

TEST(Trainer, OutOfMemoryWithoutAutoMicroBatchIsExitFour) {
  TempDir tmp;
  Json cfg = base_config(tmp.file("run"));
  try {
    train_once(cfg, checkpoint::ResumeMode::kAuto, [](const train::Batch&) {
      TORCH_CHECK_WITH(OutOfMemoryError, false, "CUDA out of memory (simulated)");
    });
    FAIL() << "expected OutOfMemoryError";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kOutOfMemory);
    EXPECT_NE(e.hint().find("train.micro_batch"), std::string::npos) << e.hint();
  }
}

TEST(Trainer, AutoMicroBatchHalvesAndKeepsTheEffectiveBatch) {
  TempDir tmp;
  Json cfg = base_config(tmp.file("run"));
  cfg["train"]["auto_micro_batch"] = true;
  cfg["train"]["max_steps"] = 3;
  int oom = 0;
  const TrainRun run = train_once(cfg, checkpoint::ResumeMode::kAuto, [&](const train::Batch& piece) {
    if (piece.input_ids.size(0) > 2) {  // "too big": anything over 2 sequences runs out of memory
      ++oom;
      TORCH_CHECK_WITH(OutOfMemoryError, false, "CUDA out of memory (simulated)");
    }
  });
  EXPECT_GE(oom, 1);
  ASSERT_EQ(run.metrics.size(), 3u);
  Json ref_cfg = base_config(tmp.file("ref2"));
  ref_cfg["train"]["max_steps"] = 3;
  const TrainRun plain = train_once(ref_cfg);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(run.metrics[i]["loss"].get<double>(), plain.metrics[i]["loss"].get<double>(), 1e-5) << i;
  }
}

// An odd micro-batch cut in two unequal pieces (2 + 1 sequences): each piece's loss counts by its
// sequences, so the step's loss is still the whole micro-batch's (an equal weight per piece would
// give the single sequence twice its share).
TEST(Trainer, AutoMicroBatchWeighsUnequalPiecesBySequences) {
  TempDir tmp;
  Json cfg = base_config(tmp.file("run"));
  cfg["train"]["auto_micro_batch"] = true;
  cfg["train"]["micro_batch"] = 3;
  cfg["train"]["max_steps"] = 3;
  std::vector<std::int64_t> rows;
  const TrainRun run = train_once(cfg, checkpoint::ResumeMode::kAuto, [&](const train::Batch& piece) {
    if (piece.input_ids.size(0) > 2) TORCH_CHECK_WITH(OutOfMemoryError, false, "CUDA out of memory (simulated)");
    rows.push_back(piece.input_ids.size(0));
  });
  ASSERT_EQ(rows, (std::vector<std::int64_t>{2, 1, 2, 1, 2, 1}));
  Json ref_cfg = base_config(tmp.file("ref3"));
  ref_cfg["train"]["micro_batch"] = 3;
  ref_cfg["train"]["max_steps"] = 3;
  const TrainRun plain = train_once(ref_cfg);
  ASSERT_EQ(run.metrics.size(), 3u);
  expect_same_losses(run, plain, 1e-5);
}

// train.overlap_teacher: the next step's micro-batches are drawn during the step before, so that
// their teacher forward can run early (on the CPU on the same stream, with the same results). A run
// stopped by SIGTERM records the position before those early micro-batches: resumed, it trains on
// the same data as a straight run without the option, to the bit. The last step draws nothing ahead.
TEST(Trainer, OverlapTeacherDrawsAheadYetStopsAndResumesOnTheSameData) {
  TempDir tmp;
  Json plain = base_config(tmp.file("plain"));
  plain["train"]["micro_batch"] = 2;
  plain["train"]["grad_accum"] = 2;
  MemorySource plain_source(7, 2, 16, 5);
  const TrainRun straight = train_once(plain, checkpoint::ResumeMode::kAuto, nullptr, &plain_source);
  ASSERT_EQ(straight.metrics.size(), 6u);

  Json cfg = plain;
  cfg["checkpoint"]["dir"] = tmp.file("ahead");
  cfg["checkpoint"]["every_steps"] = 0;
  cfg["train"]["overlap_teacher"] = true;
  MemorySource first_source(7, 2, 16, 5);
  int pieces = 0;
  try {
    train_once(cfg, checkpoint::ResumeMode::kAuto, [&](const train::Batch&) {
      if (++pieces == 3) std::raise(SIGTERM);  // step 2's first micro-batch
    }, &first_source);
    FAIL() << "expected InterruptedError";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kInterrupted) << e.what();
  }
  EXPECT_EQ(first_source.served(), 6) << "steps 1 and 2, and step 3's micro-batches drawn ahead";
  const auto ckpt = checkpoint::load_newest_checkpoint(tmp.file("ahead"));
  ASSERT_TRUE(ckpt.has_value());
  EXPECT_EQ(ckpt->state.step, 2);
  EXPECT_EQ(ckpt->state.data_position, (Json{{"index", 4}})) << "before step 3's micro-batches";

  MemorySource second_source(7, 2, 16, 5);
  const TrainRun resumed = train_once(cfg, checkpoint::ResumeMode::kAuto, nullptr, &second_source);
  EXPECT_EQ(resumed.result.resumed_from, 2);
  EXPECT_EQ(second_source.served(), 8) << "steps 3 to 6, nothing past the last";
  expect_same_losses(resumed, straight, 0.0);
}

// Out of memory in a step whose successor's micro-batches were already drawn: the retry cuts both
// and draws nothing twice; the losses are the uncut run's (pieces weighted by their sequences).
TEST(Trainer, OverlapTeacherWithAutoMicroBatchDrawsNothingTwice) {
  TempDir tmp;
  Json cfg = base_config(tmp.file("run"));
  cfg["train"]["auto_micro_batch"] = true;
  cfg["train"]["overlap_teacher"] = true;
  cfg["train"]["max_steps"] = 3;
  MemorySource source(5, 4, 16, 99);
  int calls = 0;
  std::vector<std::int64_t> pieces;
  const TrainRun run = train_once(cfg, checkpoint::ResumeMode::kAuto, [&](const train::Batch& piece) {
    // Pieces over 2 sequences run out of memory (call 1, step 2 already drawn ahead); then step 2's
    // second piece of 2 does once (call 5), when step 3's micro-batch is already drawn: step 2 is
    // retried in pieces of 1, and step 3 is cut the same way.
    if (++calls == 5 || piece.input_ids.size(0) > 2) {
      TORCH_CHECK_WITH(OutOfMemoryError, false, "CUDA out of memory (simulated)");
    }
    pieces.push_back(piece.input_ids.size(0));
  }, &source);
  EXPECT_EQ(source.served(), 3);
  EXPECT_EQ(pieces, (std::vector<std::int64_t>{2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1}));
  Json ref_cfg = base_config(tmp.file("ref"));
  ref_cfg["train"]["max_steps"] = 3;
  const TrainRun plain = train_once(ref_cfg);
  ASSERT_EQ(run.metrics.size(), 3u);
  expect_same_losses(run, plain, 1e-5);
}

// train.trace_steps: the profiler runs around a step and changes nothing in the run. With a LibTorch
// built with Kineto (the official builds) it writes trace.json, checked by the GPU suite
// (TrainerCuda.TraceShowsTheTeacherOnItsOwnStream); without (Debian's), it warns.
TEST(Trainer, TraceStepsLeavesTheRunAsItIs) {
  TempDir tmp;
  Json cfg = base_config(tmp.file("traced"));
  cfg["train"]["max_steps"] = 4;
  cfg["train"]["trace_steps"] = 2;
  const TrainRun traced = train_once(cfg);
  Json plain_cfg = base_config(tmp.file("plain"));
  plain_cfg["train"]["max_steps"] = 4;
  const TrainRun plain = train_once(plain_cfg);
  ASSERT_EQ(traced.metrics.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(traced.metrics[i]["loss"].get<double>(), plain.metrics[i]["loss"].get<double>()) << i;
  }
  std::ifstream f(tmp.file("traced") + "/trace.json");
  if (f.good()) {
    const Json trace = Json::parse(f);
    EXPECT_TRUE(trace.contains("traceEvents"));
  }
}

// `distill export` turns the newest checkpoint into an HF folder with the student's tokenizer files.
TEST(Export, CheckpointBecomesAnHfFolder) {
  TempDir tmp;
  // A student folder with a tokenizer file beside the weights.
  const std::string student = tmp.file("student");
  files::create_directories(student);
  for (const std::string& f : files::list_directory(testing::model_dir("llama"))) {
    testing::write_file(files::join(student, f), testing::read_file(files::join(testing::model_dir("llama"), f)));
  }
  testing::write_file(files::join(student, "tokenizer_config.json"), R"({"model_max_length": 128})");
  Json cfg = base_config(tmp.file("run"));
  cfg["student"]["path"] = student;
  cfg["train"]["max_steps"] = 3;
  train_once(cfg);

  const std::string out = tmp.file("exported");
  auto r = testing::run_distill({"export", tmp.file("run"), "--out", out, "--dtype", "fp32"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("exported step 3"), std::string::npos) << r.out;
  for (const char* f : {"config.json", "model.safetensors", "tokenizer_config.json", "generation_config.json"}) {
    EXPECT_TRUE(files::exists(files::join(out, f))) << f;
  }
  // The export loads like any HF folder and holds the checkpoint's weights.
  models::CausalLM exported = models::load_model(out);
  const auto ckpt = checkpoint::load_newest_checkpoint(tmp.file("run"));
  models::CausalLM expected = models::load_model(student);
  models::load_weights(*expected, ckpt->model, ckpt->dir);
  auto want = expected->named_parameters();
  for (const auto& item : exported->named_parameters()) EXPECT_TRUE(at::equal(item.value(), want[item.key()])) << item.key();

  r = testing::run_distill({"export", tmp.file("run"), "--out", out});
  EXPECT_EQ(r.exit_code, 2) << "an existing folder is never overwritten: " << r.err;
  r = testing::run_distill({"export", tmp.file("run"), "--out", tmp.file("x"), "--step", "99"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_FALSE(files::exists(tmp.file("x")));
  r = testing::run_distill({"export", tmp.file("nothing-here"), "--out", tmp.file("y")});
  EXPECT_EQ(r.exit_code, 3) << r.err;
}

}  // namespace
}  // namespace distill
