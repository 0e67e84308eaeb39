// LibTorch side of the fused elementwise kernels (fused_kernels.h): when they apply, the launches,
// and autograd Functions whose backward runs the matching backward kernels. What they save for
// backward is less than the unfused ops keep: RMSNorm its input and one fp32 per row (not an fp32
// copy of the input and of the normalised rows), SiLU * up its two inputs (not silu(gate) too),
// RoPE nothing but the tables.
#if defined(__GNUC__) && !defined(__clang__)
// g++ 13: false -Warray-bounds / -Wstringop-overflow inside LibTorch's autograd::Function::apply.
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
#include "fused_ops.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/autograd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "distill/models/layers.h"
#include "distill/util/autocast.h"
#include "distill/util/env_switch.h"
#include "distill/util/tuned_gemm.h"
#include "distill/util/weight_copies.h"
#include "distill/util/errors.h"
#include "fused_kernels.h"
#include "linear_ops.h"

#if DISTILL_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace distill::models {

namespace {

#if DISTILL_WITH_CUDA
bool g_enabled = env_switch("DISTILL_FUSED_KERNELS", true);
#else
bool g_enabled = false;
#endif

}  // namespace

void set_fused_kernels(bool on) {
#if DISTILL_WITH_CUDA
  g_enabled = on;
#else
  (void)on;
#endif
}

bool fused_kernels_enabled() { return g_enabled; }

}  // namespace distill::models

namespace distill::models::fused {

namespace {
bool g_add_norm = env_switch("DISTILL_FUSED_ADD_NORM", true);
bool g_add_norm_train = env_switch("DISTILL_FUSED_ADD_NORM_TRAIN", true);
bool g_norm_to = env_switch("DISTILL_NORM_TO_AUTOCAST", true);
bool g_rope_to = env_switch("DISTILL_ROPE_TO_AUTOCAST", true);
}  // namespace

void set_add_rms_norm(bool on) { g_add_norm = on; }
bool add_rms_norm_on() { return g_add_norm; }
void set_add_rms_norm_train(bool on) { g_add_norm_train = on; }
bool add_rms_norm_train_on() { return g_add_norm_train; }
void set_rms_norm_to(bool on) { g_norm_to = on; }
void set_rope_to(bool on) { g_rope_to = on; }
bool rms_norm_to_on() { return g_norm_to; }

#if DISTILL_WITH_CUDA

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
namespace k = kernels;

bool elem_type(at::ScalarType t, k::ElemType* out) {
  switch (t) {
    case at::kFloat: *out = k::ElemType::kFloat32; return true;
    case at::kBFloat16: *out = k::ElemType::kBFloat16; return true;
    case at::kHalf: *out = k::ElemType::kFloat16; return true;
    default: return false;
  }
}

k::ElemType elem_type(at::ScalarType t) {
  k::ElemType e{};
  elem_type(t, &e);
  return e;
}

void check(const char* err, const char* what) {
  if (err != nullptr) throw Error(ExitCode::kInternal, std::string(what) + ": CUDA kernel launch failed: " + err);
}

void* stream_of(const at::Tensor& t) { return c10::cuda::getCurrentCUDAStream(t.device().index()).stream(); }

bool usable(const at::Tensor& t) {
  k::ElemType e{};
  return fused_kernels_enabled() && t.defined() && t.is_cuda() && elem_type(t.scalar_type(), &e);
}

// x (..., dim) as (rows, dim) with one row stride, without a copy when its layout allows.
at::Tensor as_rows(const at::Tensor& x) {
  const std::int64_t dim = x.size(-1), rows = dim == 0 ? 0 : x.numel() / dim;
  if (x.stride(-1) == 1) {
    std::int64_t row_stride = -1, next = 0;
    bool ok = true;
    for (std::int64_t i = x.dim() - 2; i >= 0 && ok; --i) {
      if (x.size(i) == 1) continue;
      if (row_stride < 0) {
        row_stride = x.stride(i);
      } else {
        ok = x.stride(i) == next;
      }
      next = x.stride(i) * x.size(i);
    }
    if (row_stride < 0) row_stride = dim;
    if (ok && row_stride >= dim) return x.as_strided({rows, dim}, {row_stride, 1});
  }
  return x.contiguous().view({rows, dim});
}

// ---- RMSNorm
// The arguments both directions share: rows (rows, dim) with one row stride, w (dim) contiguous.
k::RmsNormArgs rms_args(const at::Tensor& rows, const at::Tensor& w) {
  k::RmsNormArgs a;
  a.type = elem_type(rows.scalar_type());
  a.out_type = a.type;
  a.x = rows.data_ptr();
  a.x_stride = rows.stride(0);
  a.w = w.data_ptr();
  a.rows = rows.size(0);
  a.dim = rows.size(1);
  return a;
}

// y: rows' type, or (rows fp32) bf16/fp16.
void rms_forward(const at::Tensor& rows, const at::Tensor& w, double eps, const at::Tensor& y, const at::Tensor& rstd) {
  k::RmsNormArgs a = rms_args(rows, w);
  a.out_type = elem_type(y.scalar_type());
  a.eps = static_cast<float>(eps);
  a.y = y.data_ptr();
  a.rstd = rstd.defined() ? rstd.data_ptr<float>() : nullptr;
  check(k::rms_norm_forward(a, stream_of(rows)), "rms_norm");
}

// out: the output's dtype (x's, or bf16/fp16 for an fp32 x), whose gradient backward reads as it is.
class RmsNormFn : public torch::autograd::Function<RmsNormFn> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w, double eps,
                            std::int64_t out) {
    const at::Tensor rows = as_rows(x);
    const at::Tensor wc = w.contiguous();
    at::Tensor y = at::empty(rows.sizes(), rows.options().dtype(static_cast<at::ScalarType>(out)));
    at::Tensor rstd = at::empty({rows.size(0)}, rows.options().dtype(at::kFloat));
    rms_forward(rows, wc, eps, y, rstd);
    ctx->save_for_backward({rows, wc, rstd});
    ctx->saved_data["sizes"] = x.sizes().vec();
    ctx->saved_data["out"] = out;
    return y.view(x.sizes());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& rows = saved[0];
    const at::Tensor& w = saved[1];
    const at::Tensor& rstd = saved[2];
    const auto out = static_cast<at::ScalarType>(ctx->saved_data["out"].toInt());
    const at::Tensor gy = grad_out[0].to(out).contiguous().view(rows.sizes());
    at::Tensor gx = at::empty(rows.sizes(), rows.options());
    const std::int64_t parts = k::rms_norm_partial_rows(rows.size(0), rows.size(1));
    at::Tensor partial = at::empty({parts, rows.size(1)}, rows.options().dtype(at::kFloat));
    k::RmsNormArgs a = rms_args(rows, w);
    a.out_type = elem_type(out);
    a.rstd = rstd.data_ptr<float>();
    a.gy = gy.data_ptr();
    a.gx = gx.data_ptr();
    a.gw_partial = partial.data_ptr<float>();
    check(k::rms_norm_backward(a, stream_of(rows)), "rms_norm backward");
    return {gx.view(ctx->saved_data["sizes"].toIntVector()), partial.sum(0).to(w.scalar_type()), at::Tensor(),
            at::Tensor()};
  }
};

// ---- h = x + delta, then the RMSNorm of h
// x, delta contiguous, one shape; delta x's dtype or (x fp32) bf16/fp16. Writes h (x's dtype), y
// (its dtype: x's, or (x fp32) bf16/fp16) and, where defined, rstd (one fp32 per row).
void add_rms_forward(const at::Tensor& x, const at::Tensor& delta, const at::Tensor& w, double eps, const at::Tensor& h,
                     const at::Tensor& y, const at::Tensor& rstd) {
  const std::int64_t dim = x.size(-1);
  k::RmsNormArgs a = rms_args(x.view({x.numel() / dim, dim}), w);
  a.out_type = elem_type(y.scalar_type());
  a.eps = static_cast<float>(eps);
  a.y = y.data_ptr();
  a.rstd = rstd.defined() ? rstd.data_ptr<float>() : nullptr;
  a.delta = delta.data_ptr();
  a.delta_type = elem_type(delta.scalar_type());
  a.h = h.data_ptr();
  check(k::rms_norm_forward(a, stream_of(x)), "add + rms_norm");
}

// (h, y) = (x + delta, rms_norm(x + delta)) under autograd. Saves h (an output), the weight and one
// fp32 per row, where the unfused pair keeps h for the norm too. Backward is one kernel for x and
// delta: the gradient reaching h from elsewhere (the next residual add; none after the final norm)
// plus the norm's, written in fp32 for x and, where delta's dtype differs, cast to it for delta (the
// add's backward), and the weight's partial rows. out: y's dtype.
class AddRmsNormFn : public torch::autograd::Function<AddRmsNormFn> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& delta, const at::Tensor& w,
                               double eps, std::int64_t out) {
    // An undefined gradient w.r.t. h (nothing but the norm reads it) stays undefined: no zeros to add.
    ctx->set_materialize_grads(false);
    const at::Tensor wc = w.contiguous();
    at::Tensor h = at::empty(x.sizes(), x.options());
    at::Tensor y = at::empty(x.sizes(), x.options().dtype(static_cast<at::ScalarType>(out)));
    at::Tensor rstd = at::empty({x.numel() / x.size(-1)}, x.options().dtype(at::kFloat));
    add_rms_forward(x, delta, wc, eps, h, y, rstd);
    ctx->save_for_backward({h, wc, rstd});
    ctx->saved_data["out"] = out;
    ctx->saved_data["delta"] = static_cast<std::int64_t>(delta.scalar_type());
    return {h, y};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& h = saved[0];
    const at::Tensor& w = saved[1];
    const at::Tensor& rstd = saved[2];
    const auto out = static_cast<at::ScalarType>(ctx->saved_data["out"].toInt());
    const auto delta_type = static_cast<at::ScalarType>(ctx->saved_data["delta"].toInt());
    const std::int64_t dim = h.size(-1), rows = h.numel() / dim;
    const at::Tensor gh = grad_out[0].defined() ? grad_out[0].to(h.scalar_type()).contiguous() : at::Tensor();
    const at::Tensor gy = grad_out[1].defined() ? grad_out[1].to(out).contiguous() : at::zeros(h.sizes(), h.options().dtype(out));
    at::Tensor gx = at::empty(h.sizes(), h.options());
    at::Tensor gdelta = delta_type != h.scalar_type() ? at::empty(h.sizes(), h.options().dtype(delta_type)) : at::Tensor();
    const std::int64_t parts = k::rms_norm_partial_rows(rows, dim);
    at::Tensor partial = at::empty({parts, dim}, h.options().dtype(at::kFloat));
    k::RmsNormArgs a = rms_args(h.view({rows, dim}), w);
    a.out_type = elem_type(out);
    a.rstd = rstd.data_ptr<float>();
    a.gy = gy.data_ptr();
    a.gx = gx.data_ptr();
    a.gw_partial = partial.data_ptr<float>();
    a.delta_type = elem_type(delta_type);
    a.gh = gh.defined() ? gh.data_ptr() : nullptr;
    a.gdelta = gdelta.defined() ? gdelta.data_ptr() : nullptr;
    check(k::rms_norm_backward(a, stream_of(h)), "add + rms_norm backward");
    // Same dtypes: x's and delta's gradients are one tensor, as ATen's add returns them.
    return {gx, gdelta.defined() ? gdelta : gx, partial.sum(0).to(w.scalar_type()), at::Tensor(), at::Tensor()};
  }
};

// ---- SiLU(gate) * up
// g, u contiguous, one dtype.
at::Tensor silu_mul_raw(const at::Tensor& g, const at::Tensor& u) {
  at::Tensor h = at::empty(g.sizes(), g.options());
  k::SiluMulArgs a;
  a.type = elem_type(g.scalar_type());
  a.gate = g.data_ptr();
  a.up = u.data_ptr();
  a.n = g.numel();
  a.h = h.data_ptr();
  check(k::silu_mul_forward(a, stream_of(g)), "silu_mul");
  return h;
}

// The gradients w.r.t. gate and up from gh, the gradient w.r.t. silu(gate) * up (g's shape).
variable_list silu_mul_grads(const at::Tensor& g, const at::Tensor& u, const at::Tensor& gh_in) {
  const at::Tensor gh = gh_in.to(g.scalar_type()).contiguous();
  at::Tensor g_gate = at::empty(g.sizes(), g.options()), g_up = at::empty(g.sizes(), g.options());
  k::SiluMulArgs a;
  a.type = elem_type(g.scalar_type());
  a.gate = g.data_ptr();
  a.up = u.data_ptr();
  a.n = g.numel();
  a.gh = gh.data_ptr();
  a.g_gate = g_gate.data_ptr();
  a.g_up = g_up.data_ptr();
  check(k::silu_mul_backward(a, stream_of(g)), "silu_mul backward");
  return {g_gate, g_up};
}

class SiluMulFn : public torch::autograd::Function<SiluMulFn> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up) {
    const at::Tensor g = gate.contiguous(), u = up.contiguous();
    if (ctx != nullptr) ctx->save_for_backward({g, u});
    return silu_mul_raw(g, u);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    return silu_mul_grads(saved[0], saved[1], grad_out[0]);
  }
};

// ---- down(silu(gate) * up), the product recomputed in backward
class SiluMulLinearFn : public torch::autograd::Function<SiluMulLinearFn> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up, const at::Tensor& weight,
                            const at::Tensor& bias) {
    const at::Tensor g = gate.contiguous(), u = up.contiguous();
    const auto dtype = g.scalar_type();
    const at::Tensor h = silu_mul_raw(g, u);
    // No bias is an empty tensor: autograd's Function inputs must all be defined.
    const bool has_bias = bias.numel() > 0;
    const at::Tensor wc = weight_in(weight, dtype);  // kept for backward: one cast (or the optimizer's copy) a step
    const at::Tensor y = linear_tuned_or_aten(h, wc, has_bias ? weight_in(bias, dtype) : at::Tensor());
    ctx->save_for_backward({g, u, wc});
    ctx->saved_data["w_type"] = static_cast<std::int64_t>(weight.scalar_type());
    ctx->saved_data["has_bias"] = has_bias;
    ctx->saved_data["bias_type"] = static_cast<std::int64_t>(bias.scalar_type());
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& g = saved[0];
    const at::Tensor& u = saved[1];
    const at::Tensor& w = saved[2];  // (C, I), in the products' dtype
    const auto dtype = g.scalar_type();
    const std::int64_t I = g.size(-1), C = w.size(0);
    const at::Tensor gy = grad_out[0].to(dtype).reshape({-1, C});              // (N, C)
    const at::Tensor h = silu_mul_raw(g, u).view({-1, I});                     // (N, I), recomputed
    const at::Tensor gh = mm_tuned_or_aten(gy, w).view(g.sizes());            // (.., I)
    const at::Tensor gw = weight_grad(gy, h, static_cast<at::ScalarType>(ctx->saved_data["w_type"].toInt()));  // (C, I)
    at::Tensor gb;
    if (ctx->saved_data["has_bias"].toBool()) {
      gb = gy.sum({0}, /*keepdim=*/false, at::kFloat).to(static_cast<at::ScalarType>(ctx->saved_data["bias_type"].toInt()));
    }
    variable_list grads = silu_mul_grads(g, u, gh);
    return {grads[0], grads[1], gw, gb};
  }
};

// ---- RoPE
void fill_rope(k::RopeArgs& a, const at::Tensor& in, const at::Tensor& out, const at::Tensor& cos,
               const at::Tensor& sin, bool in_fp32, at::ScalarType x_type, at::ScalarType out_type,
               at::ScalarType store_type) {
  a.type = elem_type(x_type);
  a.table_type = elem_type(cos.scalar_type());
  a.out_type = elem_type(out_type);
  a.store_in_x_type = store_type != out_type;
  a.in_fp32 = in_fp32;
  a.B = in.size(0);
  a.H = in.size(1);
  a.T = in.size(2);
  a.D = in.size(3);
  a.x = in.data_ptr();
  a.out = out.data_ptr();
  for (int i = 0; i < 4; ++i) {
    a.x_strides[i] = in.stride(i);
    a.out_strides[i] = out.stride(i);
  }
  a.cos = cos.data_ptr();
  a.sin = sin.data_ptr();
  a.table_batch_stride = cos.size(0) == 1 ? 0 : cos.stride(0);
}

// (B, H, T, D) with the memory order of (B, T, H, D), the layout q and k come from.
at::Tensor empty_bhtd(const at::Tensor& like, at::ScalarType dtype) {
  return at::empty({like.size(0), like.size(2), like.size(1), like.size(3)}, like.options().dtype(dtype)).transpose(1, 2);
}

class RopeFn : public torch::autograd::Function<RopeFn> {
 public:
  // out_type: the values' type (ATen's promotion); store_type: the type they are stored in, the
  // same or x's (one rounding of the values, as autocast's cast of them).
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                            bool in_fp32, int64_t out_type, int64_t store_type) {
    const auto out_dtype = static_cast<at::ScalarType>(out_type);
    const auto store_dtype = static_cast<at::ScalarType>(store_type);
    at::Tensor out = empty_bhtd(x, store_dtype);
    k::RopeArgs a;
    fill_rope(a, x, out, cos, sin, in_fp32, x.scalar_type(), out_dtype, store_dtype);
    check(k::rope_forward(a, stream_of(x)), "rope");
    if (ctx != nullptr) {
      ctx->saved_data["cos"] = cos;
      ctx->saved_data["sin"] = sin;
      ctx->saved_data["in_fp32"] = in_fp32;
      ctx->saved_data["x_type"] = static_cast<std::int64_t>(x.scalar_type());
      ctx->saved_data["out_type"] = out_type;
      ctx->saved_data["store_type"] = store_type;
    }
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const at::Tensor cos = ctx->saved_data["cos"].toTensor(), sin = ctx->saved_data["sin"].toTensor();
    const auto x_type = static_cast<at::ScalarType>(ctx->saved_data["x_type"].toInt());
    const auto out_type = static_cast<at::ScalarType>(ctx->saved_data["out_type"].toInt());
    const auto store_type = static_cast<at::ScalarType>(ctx->saved_data["store_type"].toInt());
    at::Tensor g = grad_out[0].to(store_type);
    if (g.stride(3) != 1) g = g.contiguous();
    at::Tensor gx = empty_bhtd(g, x_type);
    k::RopeArgs a;
    fill_rope(a, g, gx, cos, sin, ctx->saved_data["in_fp32"].toBool(), x_type, out_type, store_type);
    check(k::rope_backward(a, stream_of(g)), "rope backward");
    return {gx, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

namespace {

// The fused RMSNorm of x written in `out` (x's dtype, or bf16/fp16 for an fp32 x); undefined when
// the kernel does not take x and weight.
at::Tensor rms_norm_as(const at::Tensor& x, const at::Tensor& weight, double eps, at::ScalarType out) {
  if (!usable(x) || !weight.defined() || weight.scalar_type() != x.scalar_type() || weight.device() != x.device() ||
      weight.dim() != 1 || x.dim() < 1 || weight.size(0) != x.size(-1) || x.numel() == 0) {
    return {};
  }
  const c10::cuda::CUDAGuard guard(x.device());
  if (needs_grad({x, weight})) return RmsNormFn::apply(x, weight, eps, static_cast<std::int64_t>(out));
  const at::Tensor rows = as_rows(x);
  at::Tensor y = at::empty(rows.sizes(), rows.options().dtype(out));
  rms_forward(rows, weight.contiguous(), eps, y, at::Tensor());
  return y.view(x.sizes());
}

}  // namespace

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  return x.defined() ? rms_norm_as(x, weight, eps, x.scalar_type()) : at::Tensor();
}

at::Tensor rms_norm_to(const at::Tensor& x, const at::Tensor& weight, double eps, at::ScalarType out) {
  if (!g_norm_to || !x.defined() || x.scalar_type() != at::kFloat || (out != at::kBFloat16 && out != at::kHalf)) {
    return {};
  }
  return rms_norm_as(x, weight, eps, out);
}

std::pair<at::Tensor, at::Tensor> add_rms_norm_to(const at::Tensor& x, const at::Tensor& delta,
                                                  const at::Tensor& weight, double eps, at::ScalarType y_dtype) {
  if (!g_add_norm || !usable(x) || !usable(delta) || delta.device() != x.device() ||
      !delta.sizes().equals(x.sizes()) || !x.is_contiguous() || !delta.is_contiguous() || !weight.defined() ||
      weight.scalar_type() != x.scalar_type() || weight.device() != x.device() || weight.dim() != 1 || x.dim() < 1 ||
      weight.size(0) != x.size(-1) || x.numel() == 0) {
    return {};
  }
  // delta: x's dtype, or bf16/fp16 added to an fp32 x; y: x's dtype, or bf16/fp16 from an fp32 x.
  const bool f32 = x.scalar_type() == at::kFloat;
  if (delta.scalar_type() != x.scalar_type() && !f32) return {};
  if (y_dtype != x.scalar_type() && !(f32 && (y_dtype == at::kBFloat16 || y_dtype == at::kHalf))) return {};
  // The kernel takes x in 16-byte packs where the plain norm of h (a fresh tensor) would: the sum of
  // squares in the same order, so y is that norm's to the bit. An x or delta off that alignment
  // stays with ATen.
  const std::int64_t pack = 16 / static_cast<std::int64_t>(x.element_size());
  const auto aligned_to = [](const at::Tensor& t, std::int64_t bytes) {
    return reinterpret_cast<std::uintptr_t>(t.data_ptr()) % static_cast<std::uintptr_t>(bytes) == 0;
  };
  if (x.size(-1) % pack == 0 && (!aligned_to(x, 16) || !aligned_to(delta, delta.element_size() * pack))) return {};
  const bool grad = needs_grad({x, delta, weight});
  if (grad && !g_add_norm_train) return {};
  const c10::cuda::CUDAGuard guard(x.device());
  if (grad) {
    const variable_list hy = AddRmsNormFn::apply(x, delta, weight, eps, static_cast<std::int64_t>(y_dtype));
    return {hy[0], hy[1]};
  }
  at::Tensor h = at::empty(x.sizes(), x.options()), y = at::empty(x.sizes(), x.options().dtype(y_dtype));
  add_rms_forward(x, delta, weight.contiguous(), eps, h, y, at::Tensor());
  return {h, y};
}

std::pair<at::Tensor, at::Tensor> add_rms_norm(const at::Tensor& x, const at::Tensor& delta, const at::Tensor& weight,
                                               double eps) {
  return x.defined() ? add_rms_norm_to(x, delta, weight, eps, x.scalar_type()) : std::pair<at::Tensor, at::Tensor>();
}

at::Tensor silu_mul(const at::Tensor& gate, const at::Tensor& up) {
  if (!usable(gate) || !up.defined() || up.scalar_type() != gate.scalar_type() || up.device() != gate.device() ||
      !up.sizes().equals(gate.sizes()) || gate.numel() == 0) {
    return {};
  }
  const c10::cuda::CUDAGuard guard(gate.device());
  if (needs_grad({gate, up})) return SiluMulFn::apply(gate, up);
  return SiluMulFn::forward(nullptr, gate, up);
}

at::Tensor silu_mul_linear(const at::Tensor& gate, const at::Tensor& up, const at::Tensor& weight,
                           const at::Tensor& bias) {
  if (!usable(gate) || !up.defined() || up.scalar_type() != gate.scalar_type() || up.device() != gate.device() ||
      !up.sizes().equals(gate.sizes()) || gate.numel() == 0 || !needs_grad({gate, up, weight, bias})) {
    return {};
  }
  if (!weight.defined() || weight.dim() != 2 || weight.size(1) != gate.size(-1) || weight.device() != gate.device()) return {};
  // The dtype at::linear would compute in: gate's when the weight has it, or when autocast casts the
  // weight to it; any other mix stays on the unfused path.
  if (weight.scalar_type() != gate.scalar_type()) {
    const AutocastState autocast = autocast_state(c10::DeviceType::CUDA);
    if (!autocast.enabled || autocast.dtype != gate.scalar_type()) return {};
  }
  const c10::cuda::CUDAGuard guard(gate.device());
  return SiluMulLinearFn::apply(gate, up, weight, bias.defined() ? bias : at::empty({0}, weight.options()));
}

at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, bool in_fp32,
                at::ScalarType store_to) {
  if (!usable(x) || x.dim() != 4 || x.size(3) % 2 != 0 || x.stride(3) != 1 || x.numel() == 0) return {};
  if (!usable(cos) || !usable(sin) || cos.dim() != 3 || !cos.sizes().equals(sin.sizes()) ||
      cos.scalar_type() != sin.scalar_type() || !cos.is_contiguous() || !sin.is_contiguous() ||
      cos.device() != x.device() || sin.device() != x.device() || cos.size(1) != x.size(2) ||
      cos.size(2) != x.size(3) || (cos.size(0) != 1 && cos.size(0) != x.size(0))) {
    return {};
  }
  // The output's dtype as ATen's type promotion gives it: x's, or fp32 where fp32 tables meet a
  // bf16/fp16 x. Other mixes (fp16 tables with a bf16 x, ...) stay on the ATen path.
  at::ScalarType out_type = x.scalar_type();
  if (!in_fp32 && cos.scalar_type() != x.scalar_type()) {
    if (cos.scalar_type() != at::kFloat) return {};
    out_type = at::kFloat;
  }
  // Stored in x's type instead of fp32 only where the caller asks for it (a consumer that would cast
  // to that type anyway) and rope_to_autocast is on.
  const at::ScalarType store_type =
      g_rope_to && store_to == x.scalar_type() && out_type == at::kFloat && x.scalar_type() != at::kFloat
          ? x.scalar_type()
          : out_type;
  const c10::cuda::CUDAGuard guard(x.device());
  if (needs_grad({x})) {
    return RopeFn::apply(x, cos, sin, in_fp32, static_cast<int64_t>(out_type), static_cast<int64_t>(store_type));
  }
  return RopeFn::forward(nullptr, x, cos, sin, in_fp32, static_cast<int64_t>(out_type), static_cast<int64_t>(store_type));
}

#else  // no CUDA: never applies

at::Tensor rms_norm(const at::Tensor&, const at::Tensor&, double) { return {}; }
at::Tensor rms_norm_to(const at::Tensor&, const at::Tensor&, double, at::ScalarType) { return {}; }
std::pair<at::Tensor, at::Tensor> add_rms_norm(const at::Tensor&, const at::Tensor&, const at::Tensor&, double) {
  return {};
}
std::pair<at::Tensor, at::Tensor> add_rms_norm_to(const at::Tensor&, const at::Tensor&, const at::Tensor&, double,
                                                  at::ScalarType) {
  return {};
}
at::Tensor silu_mul(const at::Tensor&, const at::Tensor&) { return {}; }
at::Tensor silu_mul_linear(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&) { return {}; }
at::Tensor rope(const at::Tensor&, const at::Tensor&, const at::Tensor&, bool, at::ScalarType) { return {}; }

#endif

}  // namespace distill::models::fused
