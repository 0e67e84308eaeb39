// AdamW: parameter groups, choosing an update path per step, state save/load (see optimizer.h).
#include "distill/train/optimizer.h"

#include <ATen/core/grad_mode.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/full.h>
#include <ATen/ops/scalar_tensor.h>
#include <ATen/ops/zeros_like.h>

#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "adamw_kernels.h"
#include "distill/config/config.h"
#include "distill/util/errors.h"
#include "distill/util/logging.h"
#include "distill/util/weight_copies.h"

namespace distill::train {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_text(at::IntArrayRef sizes) {
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < sizes.size(); ++i) out << (i ? ", " : "") << sizes[i];
  out << ']';
  return out.str();
}

// The fused kernel takes params, grads and moments of one dtype, device and layout.
bool fused_eligible(const at::Tensor& p, const at::Tensor& g) {
  return p.is_cuda() && g.device() == p.device() && g.scalar_type() == p.scalar_type() &&
         g.strides() == p.strides() && p.is_non_overlapping_and_dense();
}

const char* kStateHint = "the checkpoint was written for a different student; resume with the student it was "
                         "trained with, or start a new run directory";

}  // namespace

const char* impl_name(AdamWImpl impl) {
  switch (impl) {
    case AdamWImpl::kAuto: return "auto";
    case AdamWImpl::kFused: return "fused";
    case AdamWImpl::kForeach: return "foreach";
    case AdamWImpl::kLoop: return "loop";
  }
  return "?";
}

AdamWOptions AdamWOptions::from_config(const config::OptimConfig& optim) {
  if (optim.betas.size() != 2) {
    throw UsageError("optim.betas: expected two numbers [beta1, beta2], got " + std::to_string(optim.betas.size()),
                     "for example \"betas\": [0.9, 0.999]");
  }
  AdamWOptions o;
  o.beta1 = optim.betas[0];
  o.beta2 = optim.betas[1];
  o.eps = optim.eps;
  o.weight_decay = optim.weight_decay;
  o.decay_norms_and_biases = optim.decay_norms_and_biases;
  return o;
}

bool is_norm_or_bias(const std::string& name, const at::Tensor& param) {
  return param.dim() < 2 || name == "bias" || ends_with(name, ".bias");
}

AdamW::AdamW(NamedTensors params, AdamWOptions options) : options_(options) {
  const auto in_01 = [](double b) { return b >= 0.0 && b < 1.0; };
  if (!in_01(options_.beta1) || !in_01(options_.beta2)) {
    throw std::invalid_argument("AdamW: betas must be in [0, 1)");
  }
  if (!(options_.eps >= 0.0) || !(options_.weight_decay >= 0.0)) {
    throw std::invalid_argument("AdamW: eps and weight_decay must be >= 0");
  }
  if (options_.impl == AdamWImpl::kFused && !fused_adamw_built()) {
    throw std::invalid_argument("AdamW: the fused path needs LibTorch >= 2.1 built with CUDA");
  }
  std::set<std::string> names;
  std::set<const void*> impls;
  slots_.reserve(params.size());
  for (auto& [name, p] : params) {
    if (!p.defined()) throw std::invalid_argument("AdamW: parameter '" + name + "' is undefined");
    if (p.scalar_type() != at::kFloat && p.scalar_type() != at::kDouble) {
      throw std::invalid_argument("AdamW: parameter '" + name + "' is " + std::string(c10::toString(p.scalar_type())) +
                                  "; master weights must be fp32 (or fp64)");
    }
    if (!names.insert(name).second) throw std::invalid_argument("AdamW: parameter name '" + name + "' given twice");
    if (!impls.insert(p.unsafeGetTensorImpl()).second) {
      throw std::invalid_argument("AdamW: parameter '" + name + "' is a tensor already given under another name");
    }
    Slot s;
    s.name = name;
    s.param = p;
    s.exp_avg = at::zeros_like(p, at::MemoryFormat::Preserve);
    s.exp_avg_sq = at::zeros_like(p, at::MemoryFormat::Preserve);
    s.decay = options_.decay_norms_and_biases || !is_norm_or_bias(name, p);
    slots_.push_back(std::move(s));
  }
  last_impl_ = choose_impl();
  std::size_t decayed = 0;
  for (const Slot& s : slots_) decayed += s.decay ? 1 : 0;
  log::debug("AdamW: {} tensors ({} weight-decayed, {} exempt), {} path", slots_.size(), decayed,
             slots_.size() - decayed, impl_name(last_impl_));
}

AdamWImpl AdamW::choose_impl() const {
  if (options_.impl != AdamWImpl::kAuto) return options_.impl;
  if (!fused_adamw_built() || slots_.empty()) return AdamWImpl::kForeach;
  for (const Slot& s : slots_) {
    if (!s.param.is_cuda()) return AdamWImpl::kForeach;
  }
  return AdamWImpl::kFused;
}

AdamW::~AdamW() {
  for (const Slot& s : slots_) {
    if (s.copy.defined()) forget_weight_copy(s.param);
  }
}

std::vector<at::Tensor> AdamW::copies_for(const std::vector<std::size_t>& slots) {
  std::vector<at::Tensor> out;
  out.reserve(slots.size());
  for (const std::size_t i : slots) {
    Slot& s = slots_[i];
    if (!s.copy.defined()) {
      s.copy = at::empty_like(s.param, s.param.options().dtype(at::kBFloat16), at::MemoryFormat::Preserve);
    }
    out.push_back(s.copy);
  }
  return out;
}

bool AdamW::skips_on_device() const {
  if (choose_impl() != AdamWImpl::kFused) return false;
  for (const Slot& s : slots_) {
    const at::Tensor& g = s.param.grad();
    if (g.defined() && !fused_eligible(s.param, g)) return false;
  }
  return true;
}

AdamW::Counted AdamW::step(double lr, const at::Tensor& grad_scale, const at::Tensor& skip) {
  if (!std::isfinite(lr) || lr < 0) throw std::invalid_argument("AdamW::step: lr must be finite and >= 0");
  at::NoGradGuard no_grad;
  const AdamWImpl impl = choose_impl();
  Counted counted;
  // A path that cannot skip on the device reads `skip` now.
  if (skip.defined() && !skips_on_device() && skip.item<float>() != 0.0f) return counted;
  ++steps_;
  counted.counted = true;

  // One batch per (path, decay, device, dtype): each foreach / fused call needs uniform tensors.
  using Key = std::tuple<bool, bool, std::string, int>;  // fused, decay, device, dtype
  std::map<Key, detail::AdamWBatch> batches;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    const at::Tensor& g = s.param.grad();
    if (!g.defined()) continue;  // torch skips parameters without a gradient (state and step unchanged)
    ++s.step;
    counted.slots.push_back(i);
    const bool fused = impl == AdamWImpl::kFused && fused_eligible(s.param, g);
    if (fused && !s.fused_step.defined()) {
      s.fused_step = at::full({}, static_cast<double>(s.step - 1), s.param.options().dtype(at::kFloat));
    } else if (!fused) {
      s.fused_step = at::Tensor();  // its count moves on without it; rebuilt from `step` when needed
    }
    detail::AdamWBatch& b =
        batches[Key{fused, s.decay, s.param.device().str(), static_cast<int>(s.param.scalar_type())}];
    b.params.push_back(s.param);
    b.grads.push_back(g);
    b.exp_avgs.push_back(s.exp_avg);
    b.exp_avg_sqs.push_back(s.exp_avg_sq);
    b.steps.push_back(s.step);
    b.slots.push_back(i);
    if (fused) b.fused_steps.push_back(s.fused_step);
  }

  last_impl_ = impl == AdamWImpl::kFused ? AdamWImpl::kForeach : impl;
  std::map<std::string, at::Tensor> divisors;  // per device: 1 / grad_scale in fp32, for the fused kernel
  for (const auto& [key, batch] : batches) {
    detail::AdamWHyper h;
    h.lr = lr;
    h.beta1 = options_.beta1;
    h.beta2 = options_.beta2;
    h.eps = options_.eps;
    h.weight_decay = std::get<1>(key) ? options_.weight_decay : 0.0;
    if (std::get<0>(key)) {
      at::Tensor divisor;
      if (grad_scale.defined()) {
        at::Tensor& d = divisors[std::get<2>(key)];
        if (!d.defined()) d = grad_scale.to(batch.params.front().device(), at::kFloat).reciprocal();
        divisor = d;
      }
      const at::Tensor skip_here = skip.defined() ? skip.to(batch.params.front().device(), at::kFloat) : skip;
      last_impl_ = AdamWImpl::kFused;
      if (options_.bf16_weight_copies && std::get<3>(key) == static_cast<int>(at::kFloat)) {
        const std::vector<at::Tensor> copies = copies_for(batch.slots);
        if (detail::adamw_fused_copies(batch, copies, h, divisor, skip_here)) {
          for (std::size_t i = 0; i < copies.size(); ++i) set_weight_copy(batch.params[i], copies[i]);
          continue;
        }
      }
      detail::adamw_fused(batch, h, divisor, skip_here);
      continue;
    }
    if (grad_scale.defined()) {
      for (const at::Tensor& g : batch.grads) {
        at::Tensor gm = g;
        gm.mul_(grad_scale.to(g.device()));
      }
    }
    if (impl == AdamWImpl::kLoop) {
      detail::adamw_loop(batch, h);
    } else {
      detail::adamw_foreach(batch, h);
    }
  }
  return counted;
}

void AdamW::uncount(const Counted& counted) {
  if (!counted.counted) return;
  --steps_;
  for (const std::size_t i : counted.slots) {
    if (i < slots_.size() && slots_[i].step > 0) --slots_[i].step;
  }
}

void AdamW::zero_grad() {
  for (Slot& s : slots_) {
    if (s.param.grad().defined()) s.param.mutable_grad() = at::Tensor();
  }
}

bool AdamW::decays(const std::string& name) const {
  for (const Slot& s : slots_) {
    if (s.name == name) return s.decay;
  }
  return false;
}

NamedTensors AdamW::params() const {
  NamedTensors out;
  out.reserve(slots_.size());
  for (const Slot& s : slots_) out.emplace_back(s.name, s.param);
  return out;
}

OptimizerState AdamW::state() const {
  OptimizerState st;
  st.tensors.reserve(3 * slots_.size());
  for (const Slot& s : slots_) {
    st.tensors.emplace_back(s.name + ".exp_avg", s.exp_avg);
    st.tensors.emplace_back(s.name + ".exp_avg_sq", s.exp_avg_sq);
    st.tensors.emplace_back(s.name + ".step", at::scalar_tensor(s.step, at::kLong));
  }
  st.meta = nlohmann::ordered_json::object();
  st.meta["optimizer"] = "adamw";
  st.meta["step"] = steps_;
  st.meta["betas"] = {options_.beta1, options_.beta2};
  st.meta["eps"] = options_.eps;
  st.meta["weight_decay"] = options_.weight_decay;
  st.meta["decay_norms_and_biases"] = options_.decay_norms_and_biases;
  return st;
}

void AdamW::load_state(const OptimizerState& state, const std::string& source) {
  const nlohmann::ordered_json& meta = state.meta;
  if (!meta.is_object() || meta.value("optimizer", std::string()) != "adamw") {
    throw InputError(source, "optimizer state is not an AdamW state (metadata \"optimizer\" is not \"adamw\")",
                     kStateHint);
  }
  if (!meta.contains("step") || !meta["step"].is_number_integer() || meta["step"].get<std::int64_t>() < 0) {
    throw InputError(source, "optimizer metadata has no non-negative integer \"step\"", kStateHint);
  }
  const std::int64_t steps = meta["step"].get<std::int64_t>();

  std::map<std::string, const at::Tensor*> by_name;
  for (const auto& [name, t] : state.tensors) {
    if (!by_name.emplace(name, &t).second) throw InputError(source, "optimizer tensor '" + name + "' appears twice");
  }
  const auto take = [&](const std::string& name, const Slot& s) -> const at::Tensor& {
    const auto it = by_name.find(name);
    if (it == by_name.end() || !it->second->defined()) {
      throw InputError(source, "optimizer state has no tensor '" + name + "' for parameter '" + s.name + "'",
                       kStateHint);
    }
    const at::Tensor& t = *it->second;
    by_name.erase(it);
    return t;
  };

  // Check everything before changing anything: a failed load leaves the optimizer as it was.
  struct Loaded {
    const at::Tensor* exp_avg;
    const at::Tensor* exp_avg_sq;
    std::int64_t step;
  };
  std::vector<Loaded> loaded;
  loaded.reserve(slots_.size());
  for (const Slot& s : slots_) {
    const auto moment = [&](const std::string& name) {
      const at::Tensor& t = take(name, s);
      if (t.sizes() != s.param.sizes()) {
        throw InputError(source, "optimizer tensor '" + name + "' has shape " + shape_text(t.sizes()) +
                                     "; parameter '" + s.name + "' has " + shape_text(s.param.sizes()),
                         kStateHint);
      }
      if (!at::isFloatingType(t.scalar_type())) {
        throw InputError(source, "optimizer tensor '" + name + "' is " + c10::toString(t.scalar_type()) +
                                     "; expected a floating-point tensor");
      }
      return &t;
    };
    Loaded l{};
    l.exp_avg = moment(s.name + ".exp_avg");
    l.exp_avg_sq = moment(s.name + ".exp_avg_sq");
    const std::string step_name = s.name + ".step";
    const at::Tensor& st = take(step_name, s);
    if (st.numel() != 1 || !at::isIntegralType(st.scalar_type(), /*includeBool=*/false)) {
      throw InputError(source, "optimizer tensor '" + step_name + "' must be one integer (shape [])");
    }
    l.step = st.item().toLong();
    if (l.step < 0 || l.step > steps) {
      throw InputError(source, "optimizer tensor '" + step_name + "' is " + std::to_string(l.step) +
                                   "; expected 0 to " + std::to_string(steps) + " (the metadata's step)");
    }
    loaded.push_back(l);
  }
  if (!by_name.empty()) {
    std::string names;
    int listed = 0;
    for (const auto& entry : by_name) {
      if (listed++ == 3) {
        names += ", ...";
        break;
      }
      names += (names.empty() ? "'" : ", '") + entry.first + "'";
    }
    throw InputError(source, std::to_string(by_name.size()) + " optimizer tensor(s) belong to no parameter of this "
                         "student: " + names, kStateHint);
  }

  for (std::size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    s.exp_avg.copy_(*loaded[i].exp_avg);
    s.exp_avg_sq.copy_(*loaded[i].exp_avg_sq);
    s.step = loaded[i].step;
    s.fused_step = at::Tensor();
  }
  steps_ = steps;

  // Current options win; say where they differ from the saved ones.
  const auto differs = [&](const char* key, double now) {
    if (meta.contains(key) && meta[key].is_number() && meta[key].get<double>() != now) {
      log::warn("{}: optimizer {} was {} when saved, now {}", source, key, meta[key].get<double>(), now);
    }
  };
  if (meta.contains("betas") && meta["betas"].is_array() && meta["betas"].size() == 2 && meta["betas"][0].is_number() &&
      meta["betas"][1].is_number() &&
      (meta["betas"][0].get<double>() != options_.beta1 || meta["betas"][1].get<double>() != options_.beta2)) {
    log::warn("{}: optimizer betas were [{}, {}] when saved, now [{}, {}]", source, meta["betas"][0].get<double>(),
              meta["betas"][1].get<double>(), options_.beta1, options_.beta2);
  }
  differs("eps", options_.eps);
  differs("weight_decay", options_.weight_decay);
  if (meta.contains("decay_norms_and_biases") && meta["decay_norms_and_biases"].is_boolean() &&
      meta["decay_norms_and_biases"].get<bool>() != options_.decay_norms_and_biases) {
    log::warn("{}: optim.decay_norms_and_biases was {} when saved, now {}", source,
              meta["decay_norms_and_biases"].get<bool>(), options_.decay_norms_and_biases);
  }
}

}  // namespace distill::train
