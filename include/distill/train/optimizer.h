// AdamW with torch.optim.AdamW's semantics over fp32 master weights: norms and biases exempt from
// weight decay, fused (CUDA) / foreach / per-tensor paths, and checkpointable, bit-exact state.
#pragma once

#include <ATen/core/Tensor.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace distill::config {
struct OptimConfig;
}

namespace distill::train {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// How step() updates the parameters. All three compute the same update: kForeach and kLoop give
// identical bits on the CPU; kFused (one multi-tensor CUDA kernel, float math) agrees to rounding.
enum class AdamWImpl {
  kAuto,     // kFused when available (LibTorch >= 2.1, CUDA build, CUDA params), else kForeach
  kFused,    // at::_fused_adamw_; falls back to kForeach for tensors it cannot take
  kForeach,  // at::_foreach_* multi-tensor ops (LibTorch 1.13 and 2.x)
  kLoop,     // one tensor at a time: the reference
};
const char* impl_name(AdamWImpl impl);
// Whether this build can use at::_fused_adamw_ (LibTorch >= 2.1 built with CUDA).
bool fused_adamw_built();

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;           // decoupled: p *= 1 - lr * weight_decay before the Adam update
  bool decay_norms_and_biases = false;  // false: is_norm_or_bias() parameters get no weight decay
  AdamWImpl impl = AdamWImpl::kAuto;
  // On the fused path with fp32 CUDA parameters: one kernel of distill's own (train/adamw_shadow.h)
  // updates them and writes each one's bf16 copy in the same pass, recorded for the products
  // (util/weight_copies.h) in place of autocast's cast of every weight every step. The trainer
  // sets it for bf16 training (DISTILL_WEIGHT_COPIES=0: off).
  bool bf16_weight_copies = false;

  // optim.betas, optim.eps, optim.weight_decay, optim.decay_norms_and_biases (optim.lr is the
  // schedule's, optim.grad_clip the caller's). Fewer or more than two betas is a UsageError.
  static AdamWOptions from_config(const config::OptimConfig& optim);
};

// The default weight-decay exemption: every tensor of fewer than two dimensions (norm weights and
// biases, every linear/conv bias, scalars) and anything whose last name component is "bias".
// Embeddings, LM heads and projection matrices (2-D) are decayed, as in HF transformers' Trainer.
bool is_norm_or_bias(const std::string& name, const at::Tensor& param);

// What a checkpoint stores: for each parameter NAME, "NAME.exp_avg" and "NAME.exp_avg_sq" (the
// parameter's shape, dtype and device) and "NAME.step" (int64 scalar: updates this parameter has
// had); `meta` is {"optimizer": "adamw", "step": step() calls, "betas": [b1, b2], "eps",
// "weight_decay", "decay_norms_and_biases"}.
struct OptimizerState {
  NamedTensors tensors;
  nlohmann::ordered_json meta;
};

class AdamW {
 public:
  // `params` are the tensors to update (fp32 or fp64, unique names, no tensor twice); state is
  // allocated here (zeros, like the parameter). Bad arguments are std::invalid_argument.
  AdamW(NamedTensors params, AdamWOptions options);
  ~AdamW();
  AdamW(const AdamW&) = delete;
  AdamW& operator=(const AdamW&) = delete;

  // One update with learning rate `lr` (the schedule's value for this step). Parameters without a
  // gradient are skipped and keep their state, as in torch. No host synchronisation.
  // grad_scale: undefined, or a 0-dim tensor on the parameters' device that every gradient is
  // multiplied by first (the gradient clip's coefficient, clip_coefficient()); the gradients are
  // left scaled, as after clip_grad_norm_. The fused path applies it inside its kernel, as a
  // division by its reciprocal (within an ulp of the product), instead of a pass of its own.
  //
  // skip: undefined, or a float32 0-dim tensor on the parameters' device holding 0 or 1. Where it
  // holds 1 the update is skipped without the host looking at it: the fused kernel leaves
  // parameters and moments as they are and the device's step counts go back (torch's found_inf).
  // The host's counts cannot know; the caller reads `skip` later and calls uncount() if it was 1.
  // The foreach and loop paths read it on the host (a synchronisation) and skip or not.
  struct Counted {
    std::vector<std::size_t> slots;  // the parameters whose update count this step raised
    bool counted = false;            // whether step_count() was raised
  };
  Counted step(double lr, const at::Tensor& grad_scale = at::Tensor(), const at::Tensor& skip = at::Tensor());
  // A step() given `skip` was skipped on the device: its counts go back on the host too.
  void uncount(const Counted& counted);
  // Whether step() with `skip` needs no host synchronisation now: every parameter with a gradient
  // takes the fused path.
  bool skips_on_device() const;
  // Gradients to undefined (torch's set_to_none=True).
  void zero_grad();

  std::int64_t step_count() const { return steps_; }
  const AdamWOptions& options() const { return options_; }
  // The path the last step() took (kFused, kForeach or kLoop); before any step, the one it would take.
  AdamWImpl impl() const { return last_impl_; }
  // Whether the parameter `name` is weight-decayed (false also for unknown names).
  bool decays(const std::string& name) const;
  NamedTensors params() const;

  // The state as named tensors (the live optimizer tensors, not copies: write them out before the
  // next step()) plus the metadata.
  OptimizerState state() const;
  // Restores a state written by state() for a model with the same parameter names and shapes.
  // A missing, extra or wrongly shaped tensor, or malformed metadata, is an InputError naming
  // `source` (the checkpoint file) and the tensor. Hyper-parameters are the current options':
  // differences from the saved ones are logged, not errors (config overrides apply on resume).
  void load_state(const OptimizerState& state, const std::string& source);

 private:
  struct Slot {
    std::string name;
    at::Tensor param;
    at::Tensor exp_avg;     // like param
    at::Tensor exp_avg_sq;  // like param
    std::int64_t step = 0;  // updates so far (host copy; no sync to read)
    at::Tensor fused_step;  // float32 scalar on param's device, kFused only; undefined = rebuild from `step`
    at::Tensor copy;        // bf16_weight_copies: param in bf16 as of its last update; undefined before
    bool decay = true;
  };

  AdamWImpl choose_impl() const;
  // The bf16 copies of the parameters of `slots` (indices into slots_), made on first use.
  std::vector<at::Tensor> copies_for(const std::vector<std::size_t>& slots);

  AdamWOptions options_;
  std::vector<Slot> slots_;
  std::int64_t steps_ = 0;
  AdamWImpl last_impl_ = AdamWImpl::kLoop;
};

}  // namespace distill::train
