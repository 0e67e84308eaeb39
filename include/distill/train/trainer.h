// The training loop: teacher forward (no grad) + student forward/backward through the fused KD loss,
// AdamW with warmup + decay, accumulation, clipping, precision, checkpoints, resume and signals.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "distill/checkpoint/run_dir.h"
#include "distill/config/config.h"
#include "distill/dist/process_group.h"
#include "distill/loss/kd_loss.h"
#include "distill/models/causal_lm.h"
#include "distill/train/batch_source.h"
#include "distill/train/loss_scaler.h"
#include "distill/train/optimizer.h"
#include "distill/train/phase_timer.h"
#include "distill/train/schedule.h"
#include "distill/train/side_stream.h"

namespace distill::train {

struct TrainResult {
  std::int64_t steps_done = 0;     // optimizer steps completed in total (resumed ones included)
  std::int64_t resumed_from = -1;  // step the run resumed at; -1 for a fresh start
  std::int64_t skipped_steps = 0;  // non-finite or overflowed steps skipped in this process
  std::int64_t checks_read_late = 0;  // steps whose finiteness the host read a step late (the device skipped)
  double last_loss = 0.0;          // the last logged loss
};

struct TrainerParts {
  models::CausalLM student{nullptr};  // fp32 master weights, trainable, on the training device
  models::CausalLM teacher{nullptr};  // frozen, eval mode; null when the loss needs no teacher
  BatchSource* train = nullptr;       // micro-batches of data.seq_len tokens
  BatchSource* valid = nullptr;       // optional
  // loss.cross_tokenizer align: the shared vocabulary (xtok::VocabMap), (K) int64; undefined
  // otherwise. Batches then carry the teacher's tokens (Batch::teacher_input_ids).
  at::Tensor shared_student, shared_teacher;
  // Called before each piece of a micro-batch is processed (tests use it to simulate running out of
  // memory or a signal at a precise moment).
  std::function<void(const Batch& piece)> on_micro_batch;
};

// bf16 / fp32 on CUDA with the fused AdamW: the device skips a non-finite update by itself and the
// host reads the step's finiteness a step later, so that no step waits for the device. On by
// default; DISTILL_DEFER_FINITE_CHECK=0 or this setter: read at once (for A/Bs and tests).
void set_defer_finite_check(bool on);

class Trainer {
 public:
  // `config` is the resolved config (it is written into the run directory); `run_dir` holds the lock.
  Trainer(const config::Config& config, const nlohmann::ordered_json& resolved_config, checkpoint::RunDir& run_dir,
          TrainerParts parts, std::unique_ptr<dist::ProcessGroup> group = nullptr);
  ~Trainer();

  // Resumes per `mode`, trains to train.max_steps, saves the final checkpoint. Throws
  // InterruptedError (exit 5) after saving when SIGINT/SIGTERM arrives, OutOfMemoryError (exit 4),
  // and Error(kInternal) after train.max_nonfinite_steps consecutive non-finite losses.
  TrainResult run(checkpoint::ResumeMode mode);

 private:
  struct StepStats;
  struct Pieces;  // a step's micro-batches cut into pieces, on the device, with their teacher passes
  struct Ahead;   // train.overlap_teacher: the next step's micro-batches, drawn early
  void resume(const checkpoint::LoadedCheckpoint& ckpt);
  // with_entropies: also compute the (monitoring-only) entropies; the run asks on steps it logs.
  StepStats train_step(std::int64_t step, bool with_entropies);
  std::vector<Batch> draw_batches();
  std::unique_ptr<Pieces> prepare(const std::vector<Batch>& batches);
  // Queues piece i's teacher forward (on the side stream when there is one), once.
  void launch_teacher(Pieces& p, size_t i);
  // With train.overlap_teacher, before the step's last piece: draws the next step's micro-batches
  // (unless the step is the run's last) and queues its first teacher forward.
  void look_ahead(std::int64_t step);
  StepStats run_micro_batches(Pieces& p, std::int64_t step, const loss::KdLossOptions& loss_options);
  // The teacher's final hidden states and head for one piece (no grad); across tokenizers it reads
  // its own tokens (`ids` then holds them, (B, Tt)).
  struct TeacherPass {
    loss::LmHead head;  // undefined without a teacher
    at::Tensor ids;     // the teacher's own tokens across tokenizers; undefined otherwise
  };
  TeacherPass teacher_forward(const Batch& batch, const at::Tensor& ids, const models::ForwardOptions& fo,
                              bool non_blocking);
  // The loss of one piece from the student's final hidden states and the teacher's pass: the fused
  // KD loss, or the aligned one across tokenizers.
  loss::KdLossOutput student_loss(const Batch& batch, const at::Tensor& hidden, const TeacherPass& teacher,
                                  const at::Tensor& labels, bool non_blocking, const loss::KdLossOptions& options);
  void validate(std::int64_t step);
  void save(std::int64_t step);
  // The finiteness check of a step: counts a skip, warns, stops after train.max_nonfinite_steps in a
  // row. Returns whether the step's update was applied.
  bool count_check(std::int64_t step, bool loss_ok, bool grads_ok);
  // The check of the step whose flags are still on their way (bf16/fp32: the device skipped a
  // non-finite update itself), if any: waits for them and counts. Returns that step's outcome.
  std::optional<bool> settle_check();

  const config::Config& config_;
  nlohmann::ordered_json resolved_config_;
  checkpoint::RunDir& run_dir_;
  TrainerParts parts_;
  std::unique_ptr<dist::ProcessGroup> group_;
  loss::KdLossOptions loss_options_;
  ScheduleOptions schedule_;
  std::unique_ptr<AdamW> optimizer_;
  LossScaler scaler_;
  at::Device device_;
  bool autocast_ = false;
  at::ScalarType compute_dtype_ = at::kFloat;
  std::int64_t splits_ = 1;           // each micro-batch is cut into this many pieces (auto_micro_batch)
  std::int64_t step_ = 0;
  std::int64_t consecutive_nonfinite_ = 0;
  std::int64_t skipped_ = 0;
  std::int64_t checks_read_late_ = 0;
  std::optional<double> teacher_val_ce_;  // the frozen teacher's validation cross-entropy, computed once
  PhaseTimer timer_;                      // train.profile
  SideStream side_{false, at::kCPU};      // train.overlap_teacher: the teacher's stream
  bool look_ahead_ = false;               // train.overlap_teacher with a teacher: run it a step ahead
  std::unique_ptr<Ahead> ahead_;
  struct PendingCheck;
  std::unique_ptr<PendingCheck> pending_check_;  // the last step's finiteness flags, read a step late
};

}  // namespace distill::train
