// The training loop. Per optimizer step: draw grad_accum micro-batches; for each, teacher hidden
// states (no grad) and student hidden states (autocast), the fused chunked KD loss, backward; then
// unscale (fp16), clip, one finiteness check, AdamW step or skip; log, validate, checkpoint.
#include "distill/train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>

#include <chrono>
#include <cmath>

#include "distill/checkpoint/rng_state.h"
#include "distill/io/atomic_file.h"
#include "distill/loss/aligned_kd.h"
#include "distill/models/loader.h"
#include "distill/train/grad_clip.h"
#include "distill/train/progress.h"
#include "distill/train/step_trace.h"
#include "distill/util/autocast.h"
#include "distill/util/cuda_memory.h"
#include "distill/util/env_switch.h"
#include "distill/util/errors.h"
#include "distill/util/logging.h"
#include "distill/util/signals.h"
#include "distill/util/weight_copies.h"
#include "deferred_flags.h"

#ifdef DISTILL_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace distill::train {
namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

constexpr const char* kOomHint =
    "lower train.micro_batch (raise train.grad_accum to keep the effective batch), set "
    "train.grad_checkpointing=true, lower data.seq_len or loss.chunk_tokens, or set train.auto_micro_batch=true";

void empty_device_cache() {
#ifdef DISTILL_WITH_CUDA
  c10::cuda::CUDACachingAllocator::emptyCache();
#endif
}

// Cuts a micro-batch into `pieces` along the batch dimension.
std::vector<Batch> split_batch(const Batch& b, std::int64_t pieces) {
  if (pieces == 1) return {b};
  const auto chunks = [&](const at::Tensor& t) {
    return t.defined() ? t.chunk(pieces, 0) : std::vector<at::Tensor>();
  };
  const auto ids = chunks(b.input_ids), labels = chunks(b.labels), masks = chunks(b.attention_mask);
  const auto t_ids = chunks(b.teacher_input_ids), t_masks = chunks(b.teacher_attention_mask);
  const auto t_pos = chunks(b.teacher_pos), exact = chunks(b.exact), uld = chunks(b.uld_cols);
  const auto at_i = [](const std::vector<at::Tensor>& v, size_t i) { return v.empty() ? at::Tensor() : v[i]; };
  std::vector<Batch> out;
  for (size_t i = 0; i < ids.size(); ++i) {
    out.push_back({ids[i], labels[i], at_i(masks, i), at_i(t_ids, i), at_i(t_masks, i), at_i(t_pos, i), at_i(exact, i),
                   at_i(uld, i)});
  }
  return out;
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

bool g_defer_finite_check = env_switch("DISTILL_DEFER_FINITE_CHECK", true);

}  // namespace

void set_defer_finite_check(bool on) { g_defer_finite_check = on; }

struct Trainer::StepStats {
  at::Tensor loss, kd_loss, ce_loss, teacher_entropy, student_entropy;  // fp32 0-dim, device
  at::Tensor grad_norm;                                                  // pre-clip global norm
  double lr = 0.0;
  std::int64_t input_tokens = 0;  // tokens fed to the student (B * T summed), host-side
  bool applied = true;            // false: skipped (non-finite or fp16 overflow)
};

struct Trainer::PendingCheck {
  std::int64_t step = 0;
  DeferredFlags flags;      // loss finite, gradients finite
  AdamW::Counted counted;  // what the optimizer counted, taken back if the device skipped the update
};

Trainer::Trainer(const config::Config& config, const nlohmann::ordered_json& resolved_config,
                 checkpoint::RunDir& run_dir, TrainerParts parts, std::unique_ptr<dist::ProcessGroup> group)
    : config_(config),
      resolved_config_(resolved_config),
      run_dir_(run_dir),
      parts_(std::move(parts)),
      group_(group ? std::move(group) : dist::single_process_group()),
      loss_options_(loss::options_from_config(config.loss)),
      schedule_(ScheduleOptions::from_config(config)),
      scaler_(config.train.precision == "fp16"),
      device_(at::kCPU),
      timer_(config.train.profile, at::kCPU) {
  loss::validate(loss_options_);
  if (!parts_.student) throw Error(ExitCode::kInternal, "trainer: no student model");
  if (!parts_.train) throw Error(ExitCode::kInternal, "trainer: no training data");
  if (loss::needs_teacher(loss_options_) && !parts_.teacher) {
    throw UsageError("loss.kind '" + config.loss.kind + "' with loss.alpha > 0 needs a teacher",
                     "set teacher.path, or loss.kind=ce for plain language-model training");
  }
  device_ = parts_.student->device();
  timer_ = PhaseTimer(config.train.profile, device_);
  look_ahead_ = config.train.overlap_teacher && parts_.teacher && loss::needs_teacher(loss_options_);
  side_ = SideStream(look_ahead_, device_);
  if (config.train.overlap_teacher && !side_.active()) {
    log::warn("train.overlap_teacher has no effect on speed here: it needs a CUDA device and a teacher{}",
              look_ahead_ ? " (the teacher still runs one step ahead, on the same stream)" : "");
  }
  if (parts_.shared_student.defined()) {
    parts_.shared_student = parts_.shared_student.to(device_);
    parts_.shared_teacher = parts_.shared_teacher.to(device_);
  }
  const std::string& precision = config.train.precision;
  if (precision == "bf16") {
    autocast_ = true;
    compute_dtype_ = at::kBFloat16;
  } else if (precision == "fp16") {
    if (!device_.is_cuda()) {
      throw UsageError("train.precision 'fp16' needs a CUDA device", "use bf16 or fp32 on the CPU");
    }
    autocast_ = true;
    compute_dtype_ = at::kHalf;
  }
  parts_.student->train();
  parts_.student->set_grad_checkpointing(config.train.grad_checkpointing);
  if (parts_.teacher) {
    parts_.teacher->eval();
    for (auto& p : parts_.teacher->parameters()) p.set_requires_grad(false);
  }
  NamedTensors params;
  for (const auto& item : parts_.student->named_parameters()) {
    if (item.value().requires_grad()) params.emplace_back(item.key(), item.value());
  }
  AdamWOptions adamw = AdamWOptions::from_config(config.optim);
  // bf16 autocast on CUDA: the optimizer writes each weight's bf16 copy with its update, and the
  // products read it instead of casting every weight again every step.
  adamw.bf16_weight_copies = autocast_ && compute_dtype_ == at::kBFloat16 && device_.is_cuda() && weight_copies_enabled();
  optimizer_ = std::make_unique<AdamW>(params, adamw);
}

void Trainer::resume(const checkpoint::LoadedCheckpoint& ckpt) {
  models::load_weights(*parts_.student, ckpt.model, ckpt.dir);
  OptimizerState state{ckpt.optimizer, ckpt.state.trainer.value("optimizer", Json::object())};
  optimizer_->load_state(state, ckpt.dir);
  parts_.train->seek(ckpt.state.data_position);
  scaler_.load_state(ckpt.state.loss_scaler);
  splits_ = ckpt.state.trainer.value("splits", std::int64_t{1});
  checkpoint::restore_rng_states(ckpt.state.rng, ckpt.dir);
  step_ = ckpt.state.step;
  log::info("resumed from {} at step {}", ckpt.dir, step_);
}

Trainer::TeacherPass Trainer::teacher_forward(const Batch& batch, const at::Tensor& ids,
                                              const models::ForwardOptions& fo, bool non_blocking) {
  TeacherPass t;
  at::NoGradGuard no_grad;
  if (batch.teacher_input_ids.defined()) {
    // Across tokenizers: the teacher reads its own tokens of the same text (right-padded, so its
    // causal attention needs no mask); student rows pick the teacher rows aligned with them.
    t.ids = batch.teacher_input_ids.to(device_, non_blocking);  // (B, Tt)
    t.head.hidden = parts_.teacher->hidden_states(t.ids);       // (B, Tt, Et)
  } else {
    t.head.hidden = parts_.teacher->hidden_states(ids, fo);  // (B, T, Et) in the teacher's dtype
  }
  t.head.weight = parts_.teacher->lm_head_weight();
  timer_.end(Phase::kTeacherForward);
  return t;
}

loss::KdLossOutput Trainer::student_loss(const Batch& batch, const at::Tensor& hidden, const TeacherPass& teacher,
                                         const at::Tensor& labels, bool non_blocking,
                                         const loss::KdLossOptions& options) {
  const loss::LmHead student{hidden, parts_.student->lm_head_weight()};
  if (teacher.ids.defined()) {
    const std::int64_t tt = teacher.ids.size(1);
    const at::Tensor pos = batch.teacher_pos.to(device_, non_blocking);  // (B, T)
    const at::Tensor row = at::arange(pos.size(0), pos.options()).unsqueeze(1);  // (B, 1)
    const at::Tensor cols = batch.uld_cols.to(device_, non_blocking);             // (B, U)
    loss::TeacherAlignment alignment{at::where(pos.ge(0), pos + row * tt, pos), batch.exact.to(device_, non_blocking),
                                     parts_.shared_student, parts_.shared_teacher,
                                     at::where(cols.ge(0), cols + row * pos.size(1), cols).reshape({-1})};
    loss::KdLossOutput out = loss::aligned_linear_kd_loss(student, teacher.head, alignment, labels, options);
    timer_.end(Phase::kLoss);
    return out;
  }
  loss::KdLossOutput out = loss::fused_linear_kd_loss(student, teacher.head, labels, options);
  timer_.end(Phase::kLoss);
  return out;
}

struct Trainer::Pieces {
  struct OnDevice {
    at::Tensor ids, labels;
    models::ForwardOptions fo;
  };
  std::vector<Batch> pieces;
  std::vector<OnDevice> dev;
  std::int64_t rows = 0;          // sequences in the step: a piece's loss weighs its share of them
  std::int64_t input_tokens = 0;
  SideStream::Ticket copied;      // the device copies are queued up to here
  std::vector<TeacherPass> teacher;
  std::vector<SideStream::Ticket> ready;  // where each piece's teacher forward ends
  std::vector<bool> launched;
};

struct Trainer::Ahead {
  std::vector<Batch> batches;
  Json position;                   // the source's position before them: what a checkpoint records
  std::unique_ptr<Pieces> pieces;  // null until prepared (and again after an out-of-memory retry)
};

Trainer::~Trainer() {
  // Work still queued on the side stream reads tensors this trainer owns.
  side_.synchronize();
}

std::vector<Batch> Trainer::draw_batches() {
  std::vector<Batch> batches;
  for (std::int64_t i = 0; i < config_.train.grad_accum; ++i) {
    auto batch = parts_.train->next();
    if (!batch) throw InputError("data.train", "the training data produced no batch");
    batches.push_back(std::move(*batch));
  }
  return batches;
}

// The step's pieces: each micro-batch cut into splits_ (auto_micro_batch), copied to the device.
std::unique_ptr<Trainer::Pieces> Trainer::prepare(const std::vector<Batch>& batches) {
  auto p = std::make_unique<Pieces>();
  for (const Batch& batch : batches) {
    const std::int64_t n = batch.input_ids.size(0);
    if (n < splits_) {
      throw OutOfMemoryError("out of memory with a micro-batch of one sequence (data.seq_len " +
                                 std::to_string(batch.input_ids.size(1)) + ")",
                             kOomHint);
    }
    for (Batch& piece : split_batch(batch, splits_)) p->pieces.push_back(std::move(piece));
    p->rows += n;
  }
  for (const Batch& piece : p->pieces) {
    Pieces::OnDevice d{piece.input_ids.to(device_, /*non_blocking=*/true),
                       piece.labels.to(device_, /*non_blocking=*/true), {}};
    if (piece.attention_mask.defined()) d.fo.attention_mask = piece.attention_mask.to(device_, true);
    p->input_tokens += d.ids.numel();
    p->dev.push_back(std::move(d));
  }
  p->copied = side_.mark();
  p->teacher.resize(p->pieces.size());
  p->ready.resize(p->pieces.size());
  p->launched.assign(p->pieces.size(), false);
  return p;
}

void Trainer::launch_teacher(Pieces& p, size_t i) {
  if (i >= p.pieces.size() || p.launched[i]) return;
  p.launched[i] = true;
  const Pieces::OnDevice& d = p.dev[i];
  p.ready[i] = side_.run(p.copied, {d.ids, d.fo.attention_mask}, [&] {
    p.teacher[i] = teacher_forward(p.pieces[i], d.ids, d.fo, /*non_blocking=*/true);
  });
}

void Trainer::look_ahead(std::int64_t step) {
  if (!look_ahead_ || step + 1 >= config_.train.max_steps) return;
  if (!ahead_) {
    ahead_ = std::make_unique<Ahead>();
    ahead_->position = parts_.train->position();
    ahead_->batches = draw_batches();
  }
  if (!ahead_->pieces) ahead_->pieces = prepare(ahead_->batches);
  launch_teacher(*ahead_->pieces, 0);
}

Trainer::StepStats Trainer::run_micro_batches(Pieces& p, std::int64_t step, const loss::KdLossOptions& loss_options) {
  const auto f32 = at::TensorOptions().dtype(at::kFloat).device(device_);
  StepStats s;
  s.loss = at::zeros({}, f32);
  s.kd_loss = at::zeros({}, f32);
  s.ce_loss = at::zeros({}, f32);
  s.teacher_entropy = at::zeros({}, f32);
  s.student_entropy = at::zeros({}, f32);
  s.input_tokens = p.input_tokens;
  const bool use_teacher = parts_.teacher && loss::needs_teacher(loss_options_);
  // The teacher runs one piece ahead: its long kernels keep the device busy while the host queues
  // the student's many short ones. With train.overlap_teacher they run on the side stream, beside
  // the student's forward, loss and backward of the piece before, and the last piece's neighbour
  // is the next step's first (look_ahead), so no micro-batch has to be cut for it.
  if (use_teacher) launch_teacher(p, 0);
  for (size_t i = 0; i < p.pieces.size(); ++i) {
    if (use_teacher) {
      if (i + 1 < p.pieces.size()) {
        launch_teacher(p, i + 1);
      } else {
        look_ahead(step);
      }
    }
    if (parts_.on_micro_batch) parts_.on_micro_batch(p.pieces[i]);
    at::Tensor hidden;
    {
      AutocastScope autocast(device_.type(), autocast_, compute_dtype_);
      hidden = parts_.student->hidden_states(p.dev[i].ids, p.dev[i].fo);  // (B, T, Es); fp32 residual stream under autocast
    }
    if (autocast_) hidden = hidden.to(compute_dtype_);  // the fused loss's matmuls run in this dtype
    timer_.end(Phase::kStudentForward);
    side_.join(p.ready[i], {p.teacher[i].head.hidden, p.teacher[i].ids});
    const loss::KdLossOutput out =
        student_loss(p.pieces[i], hidden, p.teacher[i], p.dev[i].labels, /*non_blocking=*/true, loss_options);
    const double weight = static_cast<double>(p.pieces[i].input_ids.size(0)) / static_cast<double>(p.rows);
    (out.loss * (weight * scaler_.scale())).backward();
    timer_.end(Phase::kBackward);
    p.teacher[i] = TeacherPass{};
    s.loss.add_(out.loss.detach(), weight);
    s.kd_loss.add_(out.kd_loss, weight);
    s.ce_loss.add_(out.ce_loss, weight);
    s.teacher_entropy.add_(out.teacher_entropy, weight);
    s.student_entropy.add_(out.student_entropy, weight);
  }
  return s;
}

Trainer::StepStats Trainer::train_step(std::int64_t step, bool with_entropies) {
  loss::KdLossOptions loss_options = loss_options_;
  loss_options.entropies = with_entropies;
  timer_.start_step();
  std::vector<Batch> batches;
  std::unique_ptr<Pieces> pieces;
  if (ahead_) {  // drawn (and its first teacher forward queued) during the step before
    batches = std::move(ahead_->batches);
    pieces = std::move(ahead_->pieces);
    ahead_.reset();
  } else {
    batches = draw_batches();
  }
  StepStats s;
  for (;;) {
    try {
      if (!pieces) pieces = prepare(batches);
      timer_.end(Phase::kData);
      s = run_micro_batches(*pieces, step, loss_options);
      break;
    } catch (const c10::OutOfMemoryError& e) {
      // Drop every device tensor of the attempt (the next step's early pieces too) before retrying.
      pieces.reset();
      if (ahead_) ahead_->pieces.reset();
      optimizer_->zero_grad();
      empty_device_cache();
      const std::int64_t rows = batches.front().input_ids.size(0);
      if (!config_.train.auto_micro_batch || splits_ * 2 > rows) {
        throw OutOfMemoryError("out of memory at step " + std::to_string(step + 1) + " (micro_batch " +
                                   std::to_string(rows / splits_) + "): " + std::string(e.what_without_backtrace()).substr(0, 200),
                               kOomHint);
      }
      splits_ *= 2;
      log::warn("out of memory: halving the micro-batch to {} sequences and accumulating {}x more (same effective batch)",
                rows / splits_, splits_);
    }
  }
  pieces.reset();
  std::vector<at::Tensor> grads;
  NamedTensors params = optimizer_->params();
  std::vector<at::Tensor> tensors;
  for (auto& [name, p] : params) {
    tensors.push_back(p);
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (scaler_.enabled() && !grads.empty()) {
    at::_foreach_mul_(grads, 1.0 / scaler_.scale());
  }
  group_->all_reduce_mean(grads);
  s.lr = lr_at(schedule_, step);
  // The clip's coefficient goes to the optimizer, whose fused kernel applies it while it reads the
  // gradients anyway (instead of a pass of its own over them). DISTILL_CLIP_IN_OPTIMIZER=0: the
  // clip's own pass (for A/Bs).
  static const bool clip_in_optimizer = env_switch("DISTILL_CLIP_IN_OPTIMIZER", true);
  at::Tensor clip_scale;
  if (clip_in_optimizer) {
    s.grad_norm = grad_norm(tensors);
    if (config_.optim.grad_clip > 0) clip_scale = clip_coefficient(s.grad_norm, config_.optim.grad_clip);
  } else {
    s.grad_norm = clip_grad_norm_(tensors, config_.optim.grad_clip);
  }
  // Was the step finite? With bf16 or fp32 on the fused path the device skips a non-finite update
  // by itself and the host reads the flags a step later, so that no step waits for the device
  // (DISTILL_DEFER_FINITE_CHECK=0: read them now). fp16's loss scale needs them now.
  const at::Tensor finite = at::stack({at::isfinite(s.loss), at::isfinite(s.grad_norm.to(at::kFloat))});
  if (g_defer_finite_check && !scaler_.enabled() && device_.is_cuda() && optimizer_->skips_on_device()) {
    auto pending = std::make_unique<PendingCheck>();
    pending->step = step;
    pending->counted = optimizer_->step(s.lr, clip_scale, finite.all().logical_not().to(at::kFloat));
    pending->flags.start(finite);
    settle_check();  // the step before's, done on the device by now or soon
    pending_check_ = std::move(pending);
    ++checks_read_late_;
  } else {
    settle_check();
    const at::Tensor flags = finite.cpu();
    const bool loss_ok = flags[0].item<bool>();
    const bool grads_ok = flags[1].item<bool>();
    if (loss_ok && grads_ok) {
      optimizer_->step(s.lr, clip_scale);
      scaler_.update(false);
    } else if (loss_ok && scaler_.enabled()) {
      scaler_.update(true);
      log::debug("step {}: fp16 gradients overflowed; step skipped, loss scale now {}", step + 1, scaler_.scale());
    }
    if (loss_ok && !grads_ok && scaler_.enabled()) {
      s.applied = false;
      ++skipped_;
    } else {
      s.applied = count_check(step, loss_ok, grads_ok);
    }
  }
  optimizer_->zero_grad();
  timer_.end(Phase::kOptimizer);
  // With the teacher a step ahead, the last step has no teacher forward of its own: not typical.
  timer_.finish_step(s.input_tokens, /*count=*/!(look_ahead_ && step + 1 >= config_.train.max_steps));
  return s;
}

bool Trainer::count_check(std::int64_t step, bool loss_ok, bool grads_ok) {
  if (loss_ok && grads_ok) {
    consecutive_nonfinite_ = 0;
    return true;
  }
  ++skipped_;
  ++consecutive_nonfinite_;
  log::warn("step {}: non-finite {}; step skipped ({} in a row, stopping at {})", step + 1,
            loss_ok ? "gradients" : "loss", consecutive_nonfinite_, config_.train.max_nonfinite_steps);
  if (consecutive_nonfinite_ >= config_.train.max_nonfinite_steps) {
    throw Error(ExitCode::kInternal,
                std::to_string(consecutive_nonfinite_) + " consecutive non-finite steps at step " +
                    std::to_string(step + 1) + "; stopping (the last checkpoint is kept)",
                "lower optim.lr, raise schedule.warmup_steps, keep optim.grad_clip on, or use bf16 instead of fp16");
  }
  return false;
}

std::optional<bool> Trainer::settle_check() {
  if (!pending_check_) return std::nullopt;
  const std::unique_ptr<PendingCheck> pending = std::move(pending_check_);
  const std::vector<bool> ok = pending->flags.finish();
  if (!(ok[0] && ok[1])) optimizer_->uncount(pending->counted);
  return count_check(pending->step, ok[0], ok[1]);
}

void Trainer::validate(std::int64_t step) {
  settle_check();
  BatchSource* valid = parts_.valid;
  if (!valid) return;
  side_.join_all();  // one teacher forward at a time (a streamed teacher has one set of layer slots)
  at::NoGradGuard no_grad;
  parts_.student->eval();
  valid->rewind();
  const auto f64 = at::TensorOptions().dtype(at::kDouble).device(device_);
  at::Tensor loss = at::zeros({}, f64), kd = at::zeros({}, f64), ce = at::zeros({}, f64), tokens = at::zeros({}, f64);
  at::Tensor teacher_ce = at::zeros({}, f64);
  const bool use_teacher = parts_.teacher && loss::needs_teacher(loss_options_);
  // The teacher is frozen: its own perplexity on the validation data is measured on the first run only.
  const bool measure_teacher = use_teacher && !teacher_val_ce_ && !parts_.shared_student.defined();
  loss::KdLossOptions teacher_ce_options = loss_options_;
  teacher_ce_options.kind = loss::LossKind::kCE;
  teacher_ce_options.alpha = 0.0;
  std::int64_t batches = 0;
  while (auto batch = valid->next()) {
    const at::Tensor ids = batch->input_ids.to(device_);
    const at::Tensor labels = batch->labels.to(device_);
    models::ForwardOptions fo;
    if (batch->attention_mask.defined()) fo.attention_mask = batch->attention_mask.to(device_);
    at::Tensor hidden;
    {
      AutocastScope autocast(device_.type(), autocast_, compute_dtype_);
      hidden = parts_.student->hidden_states(ids, fo);
    }
    if (autocast_) hidden = hidden.to(compute_dtype_);
    const TeacherPass teacher_pass = use_teacher ? teacher_forward(*batch, ids, fo, /*non_blocking=*/false) : TeacherPass{};
    const loss::LmHead& teacher = teacher_pass.head;
    const auto out = student_loss(*batch, hidden, teacher_pass, labels, /*non_blocking=*/false, loss_options_);
    const at::Tensor n = out.tokens.to(at::kDouble);
    loss.add_(out.loss.to(at::kDouble) * n);
    kd.add_(out.kd_loss.to(at::kDouble) * n);
    if (measure_teacher) {
      teacher_ce.add_(loss::fused_linear_kd_loss(teacher, {}, labels, teacher_ce_options).ce_loss.to(at::kDouble) * n);
    }
    ce.add_(out.ce_loss.to(at::kDouble) * n);
    tokens.add_(n);
    ++batches;
  }
  parts_.student->train();
  if (batches == 0) {
    log::warn("validation data produced no batch; skipping validation");
    return;
  }
  const at::Tensor values = at::stack({loss, kd, ce, tokens, teacher_ce}).cpu();
  const double n = std::max(values[3].item<double>(), 1.0);
  const double val_ce = values[2].item<double>() / n;
  if (measure_teacher) teacher_val_ce_ = values[4].item<double>() / n;
  Json row = {{"step", step},
              {"val_loss", values[0].item<double>() / n},
              {"val_kd_loss", values[1].item<double>() / n},
              {"val_ce_loss", val_ce},
              {"val_ppl", std::exp(val_ce)},
              {"val_tokens", static_cast<std::int64_t>(values[3].item<double>())}};
  if (teacher_val_ce_) {
    row["val_teacher_ce_loss"] = *teacher_val_ce_;
    row["val_teacher_ppl"] = std::exp(*teacher_val_ce_);
  }
  if (group_->is_main()) run_dir_.append_metrics(row);
  log::info("step {}: validation loss {:.4f}, ce {:.4f}, perplexity {:.2f} over {} tokens", step,
            row["val_loss"].get<double>(), val_ce, std::exp(val_ce), row["val_tokens"].get<std::int64_t>());
  if (measure_teacher) log::info("teacher perplexity on the validation data: {:.2f}", std::exp(*teacher_val_ce_));
}

void Trainer::save(std::int64_t step) {
  settle_check();
  checkpoint::CheckpointData data;
  data.model = models::export_tensors(*parts_.student);
  const OptimizerState state = optimizer_->state();
  data.optimizer = state.tensors;
  data.state.step = step;
  data.state.scheduler_step = step;
  // Micro-batches drawn early for the next step are not consumed: a resumed run draws them again.
  data.state.data_position = ahead_ ? ahead_->position : parts_.train->position();
  data.state.loss_scaler = scaler_.state();
  data.state.trainer = {{"optimizer", state.meta}, {"splits", splits_}};
  if (group_->is_main()) {
    const std::string dir = run_dir_.save_checkpoint(data, config_.checkpoint.keep_last);
    log::info("step {}: checkpoint saved to {}", step, dir);
  }
}

TrainResult Trainer::run(checkpoint::ResumeMode mode) {
  TrainResult result;
  if (auto resumed = run_dir_.resume(mode)) {
    resume(*resumed);
    result.resumed_from = step_;
  }
  for (const auto& change : run_dir_.set_config(resolved_config_)) log::info("config changed on resume: {}", change);
  const std::int64_t max_steps = config_.train.max_steps;
  if (step_ >= max_steps) {
    log::info("nothing to do: the run is at step {} of train.max_steps {}", step_, max_steps);
    result.steps_done = step_;
    return result;
  }
  log::info("training {} -> {} steps; micro_batch {}, grad_accum {}, precision {}, loss {} (T {}, alpha {}), device {}",
            step_, max_steps, config_.train.micro_batch, config_.train.grad_accum, config_.train.precision,
            config_.loss.kind, config_.loss.temperature, config_.loss.alpha, device_.str());

  if (step_ == 0 && config_.train.eval_at_start) validate(0);

  signals::StopSignalScope stop_signals;
  ProgressLine progress;
  auto window_start = Clock::now();
  const auto run_start = Clock::now();
  const std::int64_t first_step = step_;
  std::int64_t window_tokens = 0;
  double last_loss = 0.0, last_rate = 0.0;
  std::int64_t last_saved = -1;
  cuda_reset_peak(device_);
  const SideStream::Priority student_first(side_);
  StepTrace trace(config_.train.trace_steps, max_steps - step_, device_, run_dir_.path() + "/trace.json");

  while (step_ < max_steps) {
    const std::int64_t next = step_ + 1;
    const bool log_now = next % config_.train.log_every == 0 || next == max_steps || next == first_step + 1;
    trace.before_step(step_ - first_step);
    const StepStats s = train_step(step_, log_now);
    ++step_;
    trace.after_step(step_ - first_step);
    window_tokens += s.input_tokens;
    if (log_now) {
      bool applied = s.applied;
      if (const std::optional<bool> settled = settle_check()) applied = *settled;  // this step's (the log waits anyway)
      const at::Tensor values = at::stack({s.loss, s.kd_loss, s.ce_loss, s.teacher_entropy, s.student_entropy,
                                           s.grad_norm.to(at::kFloat)})
                                    .to(at::kDouble)
                                    .cpu();
      const double elapsed = seconds_since(window_start);
      last_rate = elapsed > 0 ? static_cast<double>(window_tokens) / elapsed : 0.0;
      window_start = Clock::now();
      window_tokens = 0;
      last_loss = values[0].item<double>();
      const double grad_norm = values[5].item<double>();
      const std::int64_t peak = cuda_peak_allocated_bytes(device_);
      Json row = {{"step", step_},
                  {"loss", last_loss},
                  {"kd_loss", values[1].item<double>()},
                  {"ce_loss", values[2].item<double>()},
                  {"lr", s.lr},
                  {"grad_norm", grad_norm},
                  {"tokens_per_s", last_rate},
                  {"teacher_entropy", values[3].item<double>()},
                  {"student_entropy", values[4].item<double>()},
                  {"skipped", !applied}};
      if (scaler_.enabled()) row["loss_scale"] = scaler_.scale();
      if (peak >= 0) row["peak_mem_gib"] = static_cast<double>(peak) / (1ull << 30);
      if (group_->is_main()) run_dir_.append_metrics(row);
      progress.clear();
      log::info("step {}/{}: loss {:.4f} (kd {:.4f}, ce {:.4f}), lr {}, grad norm {:.3f}, {:.0f} tok/s, entropy t {:.3f} s {:.3f}",
                step_, max_steps, last_loss, row["kd_loss"].get<double>(), row["ce_loss"].get<double>(), s.lr,
                grad_norm, last_rate, row["teacher_entropy"].get<double>(), row["student_entropy"].get<double>());
      if (std::isfinite(grad_norm) && grad_norm > 100.0) {
        log::warn("step {}: gradient norm {:.1f} > 100: training may diverge (lower optim.lr or keep optim.grad_clip)",
                  step_, grad_norm);
      } else if (std::isfinite(grad_norm) && grad_norm < 1e-5 && applied) {
        log::warn("step {}: gradient norm {} < 1e-5: the student is barely learning (check optim.lr, the data, "
                  "loss.alpha)", step_, grad_norm);
      }
    }
    const double done = static_cast<double>(step_ - first_step);
    const double eta = done > 0 ? seconds_since(run_start) / done * static_cast<double>(max_steps - step_) : -1.0;
    progress.update(step_, max_steps, last_loss, last_rate, eta);

    if (config_.train.eval_every > 0 && step_ % config_.train.eval_every == 0 && step_ < max_steps) {
      progress.clear();
      validate(step_);
    }
    const bool stop = signals::stop_requested();
    if ((config_.checkpoint.every_steps > 0 && step_ % config_.checkpoint.every_steps == 0) || stop) {
      progress.clear();
      save(step_);
      last_saved = step_;
    }
    if (stop) {
      progress.clear();
      throw InterruptedError(std::string("stopped by ") + signals::signal_name(signals::stop_signal()) + " after step " +
                                 std::to_string(step_) + "; checkpoint saved in " + run_dir_.path(),
                             "run the same command again to resume");
    }
  }
  progress.clear();
  settle_check();
  if (timer_.enabled() && group_->is_main()) {
    log::info("{}", timer_.table());
    io::write_file_atomic(run_dir_.path() + "/profile.json", timer_.summary().dump(2) + "\n");
  }
  validate(step_);
  if (last_saved != step_) save(step_);
  result.steps_done = step_;
  result.skipped_steps = skipped_;
  result.checks_read_late = checks_read_late_;
  result.last_loss = last_loss;
  log::info("training finished at step {} in {}", step_, format_duration(seconds_since(run_start)));
  return result;
}

}  // namespace distill::train
