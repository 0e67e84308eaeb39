// Linear layers whose gradients are written by the products themselves (linear_ops.h).
#if defined(__GNUC__) && !defined(__clang__)
// g++ 13: false -Warray-bounds / -Wstringop-overflow inside LibTorch's autograd::Function::apply.
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
#include "linear_ops.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/autograd.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "distill/util/autocast.h"
#include "distill/util/env_switch.h"
#include "distill/util/mixed_gemm.h"
#include "distill/util/tuned_gemm.h"
#include "distill/util/weight_copies.h"

#if DISTILL_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#endif

namespace distill::models::fused {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

bool g_gate_up_on_cuda = env_switch("DISTILL_GATE_UP", true);

// The dtype the products run in: autocast's on CUDA for an fp32 weight, else the tensors' own
// (all one dtype). Nothing when neither holds (the caller keeps at::linear).
std::optional<at::ScalarType> compute_dtype(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (bias.defined() && (bias.scalar_type() != weight.scalar_type() || bias.device() != x.device())) return {};
  const AutocastState autocast = autocast_state(x.device().type());
  if (autocast.enabled) {
    if (!x.is_cuda() || !mixed_gemm_enabled() || weight.scalar_type() != at::kFloat) return {};
    if (autocast.dtype != at::kBFloat16 && autocast.dtype != at::kHalf) return {};
    if (x.scalar_type() != at::kFloat && x.scalar_type() != autocast.dtype) return {};
    return autocast.dtype;
  }
  if (x.scalar_type() != weight.scalar_type()) return {};
  return x.scalar_type();
}

// a (N, K) @ b (K, M) as a `dtype` tensor: for an fp32 result from bf16/fp16 operands written in
// fp32 by the product where it applies, else the product cast.
at::Tensor product(const at::Tensor& a, const at::Tensor& b, at::ScalarType dtype) {
  if (dtype == at::kFloat && a.scalar_type() != at::kFloat) {
    if (at::Tensor out = mm_fp32(a, b); out.defined()) return out;
  }
  return mm_tuned_or_aten(a, b).to(dtype);
}

// ---- x W^T + b, fp32 weight under autocast
class MixedLinearFn : public torch::autograd::Function<MixedLinearFn> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                            int64_t compute_type) {
    const auto cd = static_cast<at::ScalarType>(compute_type);
    const std::int64_t in = weight.size(1);
    const at::Tensor xc = x.to(cd).reshape({-1, in});
    const at::Tensor wc = weight_in(weight, cd);  // the optimizer's bf16 copy where current
    // No bias is an empty tensor: autograd's Function inputs must all be defined.
    const bool has_bias = bias.numel() > 0;
    at::Tensor y = linear_tuned_or_aten(xc, wc, has_bias ? weight_in(bias, cd) : at::Tensor());
    ctx->save_for_backward({xc, wc});
    ctx->saved_data["has_bias"] = has_bias;
    ctx->saved_data["x_type"] = static_cast<std::int64_t>(x.scalar_type());
    ctx->saved_data["x_sizes"] = x.sizes().vec();
    std::vector<std::int64_t> sizes = x.sizes().vec();
    sizes.back() = weight.size(0);
    return y.view(sizes);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& xc = saved[0];  // (N, in)
    const at::Tensor& wc = saved[1];  // (out, in)
    const auto x_type = static_cast<at::ScalarType>(ctx->saved_data["x_type"].toInt());
    const at::Tensor gy = grad_out[0].to(wc.scalar_type()).reshape({-1, wc.size(0)}).contiguous();  // (N, out)
    at::Tensor gx, gw, gb;
    if (ctx->needs_input_grad(0)) gx = product(gy, wc, x_type).view(ctx->saved_data["x_sizes"].toIntVector());
    if (ctx->needs_input_grad(1)) gw = weight_grad(gy, xc, at::kFloat);
    if (ctx->needs_input_grad(2) && ctx->saved_data["has_bias"].toBool()) gb = gy.sum({0}, false, at::kFloat);
    return {gx, gw, gb, at::Tensor()};
  }
};

// ---- a gated MLP's gate and up products from one [2I, C] weight
class GateUpFn : public torch::autograd::Function<GateUpFn> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                               const at::Tensor& bias, int64_t compute_type) {
    const auto cd = static_cast<at::ScalarType>(compute_type);
    const std::int64_t I = weight.size(0) / 2, C = weight.size(1);
    const at::Tensor xc = x.to(cd).reshape({-1, C});
    const at::Tensor wc = weight_in(weight, cd);  // (2I, C), one cast (or copy) for both blocks
    const bool has_bias = bias.numel() > 0;
    const at::Tensor bc = has_bias ? weight_in(bias, cd) : at::Tensor();
    std::vector<std::int64_t> sizes = x.sizes().vec();
    sizes.back() = I;
    variable_list out;
    for (std::int64_t block = 0; block < 2; ++block) {
      const at::Tensor w = wc.narrow(0, block * I, I);
      out.push_back(linear_tuned_or_aten(xc, w, has_bias ? bc.narrow(0, block * I, I) : at::Tensor()).view(sizes));
    }
    ctx->save_for_backward({xc, wc});
    ctx->saved_data["has_bias"] = has_bias;
    ctx->saved_data["x_type"] = static_cast<std::int64_t>(x.scalar_type());
    ctx->saved_data["w_type"] = static_cast<std::int64_t>(weight.scalar_type());
    ctx->saved_data["x_sizes"] = x.sizes().vec();
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& xc = saved[0];  // (N, C)
    const at::Tensor& wc = saved[1];  // (2I, C)
    const auto cd = wc.scalar_type();
    const auto x_type = static_cast<at::ScalarType>(ctx->saved_data["x_type"].toInt());
    const auto w_type = static_cast<at::ScalarType>(ctx->saved_data["w_type"].toInt());
    const std::int64_t I = wc.size(0) / 2, N = xc.size(0);
    std::vector<at::Tensor> g;  // (N, I) each; an output not used downstream has no gradient: zeros
    for (int block = 0; block < 2; ++block) {
      g.push_back(grad_out[block].defined() ? grad_out[block].to(cd).reshape({N, I}).contiguous()
                                            : at::zeros({N, I}, xc.options()));
    }
    at::Tensor gx, gw, gb;
    if (ctx->needs_input_grad(0)) {
      // g_gate Wg + g_up Wu: under autocast with an fp32 x, the second product adds into the first's
      // fp32 result; otherwise the two products and their sum, as autograd would.
      const at::Tensor wg = wc.narrow(0, 0, I), wu = wc.narrow(0, I, I);
      if (x_type == at::kFloat && cd != at::kFloat) {
        gx = at::empty({N, xc.size(1)}, xc.options().dtype(at::kFloat));
        if (!mm_into_fp32(gx, g[0], wg, 0.0f) || !mm_into_fp32(gx, g[1], wu, 1.0f)) {
          gx = at::mm(g[0], wg).add_(at::mm(g[1], wu)).to(at::kFloat);
        }
      } else {
        gx = at::mm(g[0], wg).add_(at::mm(g[1], wu)).to(x_type);
      }
      gx = gx.view(ctx->saved_data["x_sizes"].toIntVector());
    }
    if (ctx->needs_input_grad(1)) {
      gw = at::empty({2 * I, xc.size(1)}, xc.options().dtype(w_type));
      for (int block = 0; block < 2; ++block) {
        at::Tensor rows = gw.narrow(0, block * I, I);
        if (w_type == at::kFloat && cd != at::kFloat && mm_into_fp32(rows, g[block].t(), xc, 0.0f)) continue;
        if (w_type == cd) {
          at::mm_out(rows, g[block].t(), xc);  // the rows of a contiguous tensor: written in place
        } else {
          rows.copy_(at::mm(g[block].t(), xc));
        }
      }
    }
    if (ctx->needs_input_grad(2) && ctx->saved_data["has_bias"].toBool()) {
      gb = at::cat({g[0].sum({0}, false, at::kFloat), g[1].sum({0}, false, at::kFloat)}).to(w_type);
    }
    return {gx, gw, gb, at::Tensor()};
  }
};

}  // namespace

bool needs_grad(std::initializer_list<at::Tensor> ts) {
  if (!at::GradMode::is_enabled()) return false;
  for (const at::Tensor& t : ts) {
    if (t.defined() && t.requires_grad()) return true;
  }
  return false;
}

void set_gate_up_on_cuda(bool on) { g_gate_up_on_cuda = on; }
bool gate_up_on_cuda() { return g_gate_up_on_cuda; }

at::Tensor weight_grad(const at::Tensor& gy, const at::Tensor& x, at::ScalarType dtype) {
  if (dtype == at::kFloat && gy.scalar_type() != at::kFloat) {
    if (at::Tensor gw = mm_fp32(gy.t(), x); gw.defined()) return gw;
  }
  return mm_tuned_or_aten(gy.t(), x).to(dtype);
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (!mixed_gemm_enabled() || !x.defined() || !x.is_cuda() || !weight.defined() || weight.dim() != 2 ||
      weight.scalar_type() != at::kFloat || weight.device() != x.device() || x.dim() < 1 ||
      x.size(-1) != weight.size(1) || x.numel() == 0 || !needs_grad({weight, bias})) {
    return {};
  }
  const AutocastState autocast = autocast_state(c10::DeviceType::CUDA);
  if (!autocast.enabled || (autocast.dtype != at::kBFloat16 && autocast.dtype != at::kHalf)) return {};
  if (x.scalar_type() != at::kFloat && x.scalar_type() != autocast.dtype) return {};
  if (bias.defined() && (bias.scalar_type() != at::kFloat || bias.dim() != 1 || bias.size(0) != weight.size(0) ||
                         bias.device() != x.device())) {
    return {};
  }
#if DISTILL_WITH_CUDA
  const c10::cuda::CUDAGuard guard(x.device());
#endif
  return MixedLinearFn::apply(x, weight, bias.defined() ? bias : at::empty({0}, weight.options()),
                              static_cast<int64_t>(autocast.dtype));
}

std::pair<at::Tensor, at::Tensor> gate_up(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (!x.defined() || !weight.defined() || weight.dim() != 2 || weight.size(0) % 2 != 0 || x.dim() < 1 ||
      x.size(-1) != weight.size(1) || x.numel() == 0 || weight.device() != x.device() ||
      !needs_grad({x, weight, bias}) || !at::isFloatingType(x.scalar_type())) {
    return {};
  }
  if (x.is_cuda() && !g_gate_up_on_cuda) return {};
  if (!x.is_cuda() && !x.is_cpu()) return {};
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != weight.size(0))) return {};
  const std::optional<at::ScalarType> cd = compute_dtype(x, weight, bias);
  if (!cd) return {};
#if DISTILL_WITH_CUDA
  std::optional<c10::cuda::CUDAGuard> guard;
  if (x.is_cuda()) guard.emplace(x.device());
#endif
  const variable_list out = GateUpFn::apply(x, weight, bias.defined() ? bias : at::empty({0}, weight.options()),
                                            static_cast<int64_t>(*cd));
  return {out[0], out[1]};
}

}  // namespace distill::models::fused
