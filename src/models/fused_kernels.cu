// Fused CUDA kernels for RMSNorm, SiLU(gate) * up and the rotary embedding (fused_kernels.h says
// what each computes). All arithmetic is fp32; "R(.)" below is a rounding to the tensors' type T,
// placed where ATen's bf16/fp16 ops round, so that the results follow the unfused path closely
// (bit for bit where no reduction is involved).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "../util/cuda_elem.cuh"
#include "fused_kernels.h"

namespace distill::models::kernels {

namespace {

using namespace cuda_elem;

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

unsigned blocks_for(std::int64_t work, int threads, std::int64_t cap = 65535LL * 32) {
  std::int64_t b = (work + threads - 1) / threads;
  if (b > cap) b = cap;
  return static_cast<unsigned>(b < 1 ? 1 : b);
}

// ------------------------------------------------------------------------------------- RMSNorm
// One warp per row, 8 rows per block of 256 threads.
constexpr int kNormThreads = 256;
constexpr int kNormRows = kNormThreads / 32;

// kAdd: the row normalised is R(x + delta) (ATen's add: delta, of type D, converted to fp32, the
// fp32 sum rounded to T), written to h and read back from there (by the lane that wrote it) in the
// second pass. Y: the output's type, T's or (T fp32) the autocast type the next product casts to:
// the fp32 value rounded once, as a cast.
template <typename T, typename Y, typename D, int N, bool kAdd>
__global__ void __launch_bounds__(kNormThreads) rms_forward_kernel(RmsNormArgs a) {
  const int lane = threadIdx.x % 32;
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kNormRows + threadIdx.x / 32;
  if (row >= a.rows) return;
  const T* x = static_cast<const T*>(a.x) + row * a.x_stride;
  const T* w = static_cast<const T*>(a.w);
  Y* y = static_cast<Y*>(a.y) + row * a.dim;
  float ss = 0.f;
#pragma unroll 4
  for (std::int64_t c = lane * N; c < a.dim; c += 32 * N) {
    float v[N];
    load_pack<T, N>(x + c, v);
    if constexpr (kAdd) {
      float d[N];
      load_pack<D, N>(static_cast<const D*>(a.delta) + row * a.dim + c, d);
#pragma unroll
      for (int k = 0; k < N; ++k) v[k] = R<T>(v[k] + d[k]);
      store_pack<T, N>(static_cast<T*>(a.h) + row * a.dim + c, v);
    }
#pragma unroll
    for (int k = 0; k < N; ++k) ss += v[k] * v[k];
  }
  ss = warp_sum(ss);
  const float r = rsqrtf(ss / static_cast<float>(a.dim) + a.eps);
  if (a.rstd != nullptr && lane == 0) a.rstd[row] = r;
  if constexpr (kAdd) x = static_cast<const T*>(a.h) + row * a.dim;
#pragma unroll 4
  for (std::int64_t c = lane * N; c < a.dim; c += 32 * N) {
    float v[N], g[N], o[N];
    load_pack<T, N>(x + c, v);
    load_pack<T, N>(w + c, g);
#pragma unroll
    for (int k = 0; k < N; ++k) o[k] = g[k] * R<T>(v[k] * r);  // weight * to_T(x * rstd)
    store_pack<Y, N>(y + c, o);
  }
}

// d/dx of w * R(x * r): with g = R(gy * w) (the gradient reaching the normalised row),
// gx = r * g - r^3 * x * sum(g * x) / dim. gy is of type Y (exact in fp32, as its cast back would be).
// kAdd (the fused add's backward): gx = R(gh + R(gx)) where gh is set, as autograd sums the two
// gradients of h (one rounding each, __fadd_rn: never merged into the product before it), and
// the same value written to gdelta in D where that is set.
template <typename T, typename Y, typename D, int N, bool kAdd>
__global__ void __launch_bounds__(kNormThreads) rms_backward_x_kernel(RmsNormArgs a) {
  const int lane = threadIdx.x % 32;
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kNormRows + threadIdx.x / 32;
  if (row >= a.rows) return;
  const T* x = static_cast<const T*>(a.x) + row * a.x_stride;
  const T* w = static_cast<const T*>(a.w);
  const Y* gy = static_cast<const Y*>(a.gy) + row * a.dim;
  T* gx = static_cast<T*>(a.gx) + row * a.dim;
  const float r = a.rstd[row];
  float dot = 0.f;
  for (std::int64_t c = lane * N; c < a.dim; c += 32 * N) {
    float v[N], wv[N], gv[N];
    load_pack<T, N>(x + c, v);
    load_pack<T, N>(w + c, wv);
    load_pack<Y, N>(gy + c, gv);
#pragma unroll
    for (int k = 0; k < N; ++k) dot += R<T>(gv[k] * wv[k]) * v[k];
  }
  dot = warp_sum(dot);
  const float coef = r * r * r * dot / static_cast<float>(a.dim);
  for (std::int64_t c = lane * N; c < a.dim; c += 32 * N) {
    float v[N], wv[N], gv[N], o[N];
    load_pack<T, N>(x + c, v);
    load_pack<T, N>(w + c, wv);
    load_pack<Y, N>(gy + c, gv);
#pragma unroll
    for (int k = 0; k < N; ++k) o[k] = r * R<T>(gv[k] * wv[k]) - coef * v[k];
    if constexpr (kAdd) {
      if (a.gh != nullptr) {
        float gh[N];
        load_pack<T, N>(static_cast<const T*>(a.gh) + row * a.dim + c, gh);
#pragma unroll
        for (int k = 0; k < N; ++k) o[k] = R<T>(__fadd_rn(gh[k], R<T>(o[k])));
      }
      if (a.gdelta != nullptr) store_pack<D, N>(static_cast<D*>(a.gdelta) + row * a.dim + c, o);
    }
    store_pack<T, N>(gx + c, o);
  }
}

// gw[c] = sum over rows of gy * R(x * r): one thread per column, blockIdx.y picks a slice of
// rows; each slice writes its own partial row (deterministic, summed by the caller).
constexpr int kPartialRows = 64;

template <typename T, typename Y>
__global__ void __launch_bounds__(256) rms_backward_w_kernel(RmsNormArgs a) {
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= a.dim) return;
  const std::int64_t slices = gridDim.y, per = (a.rows + slices - 1) / slices;
  const std::int64_t begin = blockIdx.y * per, end = begin + per < a.rows ? begin + per : a.rows;
  const T* x = static_cast<const T*>(a.x);
  const Y* gy = static_cast<const Y*>(a.gy);
  float acc = 0.f;
  for (std::int64_t row = begin; row < end; ++row) {
    acc += load(gy[row * a.dim + c]) * R<T>(load(x[row * a.x_stride + c]) * a.rstd[row]);
  }
  a.gw_partial[blockIdx.y * a.dim + c] = acc;
}

// Packs of kPack when every pointer is aligned for its pack (a delta or gdelta of D: sizeof(D) * kPack).
template <typename T, typename Y, typename D>
const char* rms_forward_typed(const RmsNormArgs& a, cudaStream_t stream) {
  constexpr int kPack = 16 / static_cast<int>(sizeof(T));
  const bool packed = a.dim % kPack == 0 && a.x_stride % kPack == 0 && aligned(a.x, 16) && aligned(a.w, 16) &&
                      aligned(a.y, sizeof(Y) * kPack) && aligned(a.delta, sizeof(D) * kPack) && aligned(a.h, 16);
  const unsigned blocks = blocks_for(a.rows, kNormRows, 0x7fffffffLL);
  if (a.delta != nullptr) {
    if (packed) {
      rms_forward_kernel<T, Y, D, kPack, true><<<blocks, kNormThreads, 0, stream>>>(a);
    } else {
      rms_forward_kernel<T, Y, D, 1, true><<<blocks, kNormThreads, 0, stream>>>(a);
    }
    return last_error();
  }
  if (packed) {
    rms_forward_kernel<T, Y, T, kPack, false><<<blocks, kNormThreads, 0, stream>>>(a);
  } else {
    rms_forward_kernel<T, Y, T, 1, false><<<blocks, kNormThreads, 0, stream>>>(a);
  }
  return last_error();
}

template <typename T, typename Y, typename D>
const char* rms_backward_typed(const RmsNormArgs& a, cudaStream_t stream) {
  constexpr int kPack = 16 / static_cast<int>(sizeof(T));
  const bool packed = a.dim % kPack == 0 && a.x_stride % kPack == 0 && aligned(a.x, 16) && aligned(a.w, 16) &&
                      aligned(a.gy, sizeof(Y) * kPack) && aligned(a.gx, 16) && aligned(a.gh, 16) &&
                      aligned(a.gdelta, sizeof(D) * kPack);
  const unsigned blocks = blocks_for(a.rows, kNormRows, 0x7fffffffLL);
  if (a.gh != nullptr || a.gdelta != nullptr) {
    if (packed) {
      rms_backward_x_kernel<T, Y, D, kPack, true><<<blocks, kNormThreads, 0, stream>>>(a);
    } else {
      rms_backward_x_kernel<T, Y, D, 1, true><<<blocks, kNormThreads, 0, stream>>>(a);
    }
  } else if (packed) {
    rms_backward_x_kernel<T, Y, T, kPack, false><<<blocks, kNormThreads, 0, stream>>>(a);
  } else {
    rms_backward_x_kernel<T, Y, T, 1, false><<<blocks, kNormThreads, 0, stream>>>(a);
  }
  if (const char* err = last_error()) return err;
  const dim3 grid(blocks_for(a.dim, 256), static_cast<unsigned>(rms_norm_partial_rows(a.rows, a.dim)));
  rms_backward_w_kernel<T, Y><<<grid, 256, 0, stream>>>(a);
  return last_error();
}

// The delta types a norm of T adds (fused residual add): T's own, and for fp32 the two autocast
// types (a bf16/fp16 product's output added to the fp32 residual stream).
template <typename T, typename Y, bool kBackward>
const char* rms_typed_delta(const RmsNormArgs& a, cudaStream_t stream) {
  const bool has_delta = kBackward ? a.gdelta != nullptr : a.delta != nullptr;
  if (!has_delta || a.delta_type == a.type) {
    return kBackward ? rms_backward_typed<T, Y, T>(a, stream) : rms_forward_typed<T, Y, T>(a, stream);
  }
  if constexpr (std::is_same_v<T, float>) {
    if (a.delta_type == ElemType::kBFloat16) {
      return kBackward ? rms_backward_typed<T, Y, __nv_bfloat16>(a, stream)
                       : rms_forward_typed<T, Y, __nv_bfloat16>(a, stream);
    }
    if (a.delta_type == ElemType::kFloat16) {
      return kBackward ? rms_backward_typed<T, Y, __half>(a, stream) : rms_forward_typed<T, Y, __half>(a, stream);
    }
  }
  return "rms_norm: a bf16/fp16 input adds a delta of its own type";
}

// The output types a norm of T may write: T's own, and for fp32 the two autocast types.
template <typename T, bool kBackward>
const char* rms_typed(const RmsNormArgs& a, cudaStream_t stream) {
  if (a.out_type == a.type) return rms_typed_delta<T, T, kBackward>(a, stream);
  if constexpr (std::is_same_v<T, float>) {
    if (a.out_type == ElemType::kBFloat16) return rms_typed_delta<T, __nv_bfloat16, kBackward>(a, stream);
    if (a.out_type == ElemType::kFloat16) return rms_typed_delta<T, __half, kBackward>(a, stream);
  }
  return "rms_norm: a bf16/fp16 input writes its own type";
}

// ------------------------------------------------------------------------------- SiLU(gate) * up
constexpr int kElemThreads = 256;

__device__ __forceinline__ float silu(float g) { return g / (1.0f + expf(-g)); }

template <typename T, int N>
__global__ void __launch_bounds__(kElemThreads) silu_mul_forward_kernel(SiluMulArgs a) {
  const std::int64_t packs = a.n / N;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < packs;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    float g[N], u[N], h[N];
    load_pack<T, N>(static_cast<const T*>(a.gate) + i * N, g);
    load_pack<T, N>(static_cast<const T*>(a.up) + i * N, u);
#pragma unroll
    for (int k = 0; k < N; ++k) h[k] = R<T>(silu(g[k])) * u[k];
    store_pack<T, N>(static_cast<T*>(a.h) + i * N, h);
  }
}

// ATen's order: g_up = gh * R(silu(g)); g_silu = R(gh * up); g_gate = g_silu * s * (1 + g (1 - s)).
template <typename T, int N>
__global__ void __launch_bounds__(kElemThreads) silu_mul_backward_kernel(SiluMulArgs a) {
  const std::int64_t packs = a.n / N;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < packs;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    float g[N], u[N], gh[N], gg[N], gu[N];
    load_pack<T, N>(static_cast<const T*>(a.gate) + i * N, g);
    load_pack<T, N>(static_cast<const T*>(a.up) + i * N, u);
    load_pack<T, N>(static_cast<const T*>(a.gh) + i * N, gh);
#pragma unroll
    for (int k = 0; k < N; ++k) {
      const float s = 1.0f / (1.0f + expf(-g[k]));
      gu[k] = gh[k] * R<T>(silu(g[k]));
      gg[k] = R<T>(gh[k] * u[k]) * s * (1.0f + g[k] * (1.0f - s));
    }
    store_pack<T, N>(static_cast<T*>(a.g_gate) + i * N, gg);
    store_pack<T, N>(static_cast<T*>(a.g_up) + i * N, gu);
  }
}

template <typename T, bool kBackward>
const char* silu_mul_typed(const SiluMulArgs& a, cudaStream_t stream) {
  constexpr int kPack = 16 / static_cast<int>(sizeof(T));
  const bool packed = a.n % kPack == 0 && aligned(a.gate, 16) && aligned(a.up, 16) && aligned(a.h, 16) &&
                      aligned(a.gh, 16) && aligned(a.g_gate, 16) && aligned(a.g_up, 16);
  const int n = packed ? kPack : 1;
  const unsigned blocks = blocks_for(a.n / n, kElemThreads, 132LL * 16);
  if (kBackward) {
    if (packed) {
      silu_mul_backward_kernel<T, kPack><<<blocks, kElemThreads, 0, stream>>>(a);
    } else {
      silu_mul_backward_kernel<T, 1><<<blocks, kElemThreads, 0, stream>>>(a);
    }
  } else {
    if (packed) {
      silu_mul_forward_kernel<T, kPack><<<blocks, kElemThreads, 0, stream>>>(a);
    } else {
      silu_mul_forward_kernel<T, 1><<<blocks, kElemThreads, 0, stream>>>(a);
    }
  }
  return last_error();
}

// ------------------------------------------------------------------------------------- RoPE
// Per (b, h, t, j < D/2): x1 = x[j], x2 = x[j + D/2];
//   forward:  o1 = x1 c1 - x2 s1          o2 = x2 c2 + x1 s2
//   backward: g1' = g1 c1 + g2 s2         g2' = g2 c2 - g1 s1
// with c1 = cos[j], c2 = cos[j + D/2] (and s likewise). Unless in_fp32, every product and sum is
// rounded: in forward to the output's type (ATen's x * cos in that type), in backward to x's type
// (autograd casts each product's gradient to x's type before the sum).
// X: x's type, C: the tables', O: the output's (X, or fp32 when fp32 tables promote a bf16 x).
// S: the type the output is stored in (O, or X: store_in_x_type).
// Each thread takes N consecutive j (16-byte accesses where the layout allows, see rope_launch);
// I: the index type, 32 bits when the element count fits (its divisions are far cheaper).
template <typename X, typename C, typename O, typename S, bool kBackward, int N, typename I>
__global__ void __launch_bounds__(kElemThreads) rope_kernel(RopeArgs a) {
  using In = typename std::conditional<kBackward, S, X>::type;   // what a.x points to
  using Out = typename std::conditional<kBackward, X, S>::type;  // what a.out points to
  using Round = typename std::conditional<kBackward, X, O>::type;  // each product's rounding
  const I half = static_cast<I>(a.D / 2), groups = half / N, T = static_cast<I>(a.T), H = static_cast<I>(a.H);
  const I total = static_cast<I>(a.B * a.H * a.T) * groups;
  const bool round = !a.in_fp32;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<I>(gridDim.x) * blockDim.x) {
    const I j = (i % groups) * N;
    I rest = i / groups;
    const I t = rest % T;
    rest /= T;
    const I h = rest % H, b = rest / H;
    const std::int64_t b64 = b, h64 = h, t64 = t;
    const In* x = static_cast<const In*>(a.x) + b64 * a.x_strides[0] + h64 * a.x_strides[1] + t64 * a.x_strides[2];
    Out* out = static_cast<Out*>(a.out) + b64 * a.out_strides[0] + h64 * a.out_strides[1] + t64 * a.out_strides[2];
    const std::int64_t tab = b64 * a.table_batch_stride + t64 * a.D;
    const C* cs = static_cast<const C*>(a.cos) + tab;
    const C* sn = static_cast<const C*>(a.sin) + tab;
    float x1[N], x2[N], c1[N], c2[N], s1[N], s2[N], o1[N], o2[N];
    load_pack<In, N>(x + j, x1);
    load_pack<In, N>(x + j + half, x2);
    load_pack<C, N>(cs + j, c1);
    load_pack<C, N>(cs + j + half, c2);
    load_pack<C, N>(sn + j, s1);
    load_pack<C, N>(sn + j + half, s2);
    const auto r = [&](float v) { return round ? R<Round>(v) : v; };
#pragma unroll
    for (int k = 0; k < N; ++k) {
      if (!kBackward) {
        o1[k] = __fadd_rn(r(__fmul_rn(x1[k], c1[k])), r(__fmul_rn(-x2[k], s1[k])));
        o2[k] = __fadd_rn(r(__fmul_rn(x2[k], c2[k])), r(__fmul_rn(x1[k], s2[k])));
      } else {
        o1[k] = __fadd_rn(r(__fmul_rn(x1[k], c1[k])), r(__fmul_rn(x2[k], s2[k])));
        o2[k] = __fadd_rn(r(__fmul_rn(x2[k], c2[k])), -r(__fmul_rn(x1[k], s1[k])));
      }
    }
    store_pack<Out, N>(out + j, o1);
    store_pack<Out, N>(out + j + half, o2);
  }
}

// Packs of N when every access of a pack is one aligned 16-byte (or, for fp32 tables and outputs,
// 32-byte) piece: N divides D/2, the strides and the table offsets, and the pointers are aligned.
template <typename In, typename C, typename Out, int N>
bool rope_packable(const RopeArgs& a) {
  const auto divides = [](std::int64_t v) { return v % N == 0; };
  return divides(a.D / 2) && divides(a.table_batch_stride) && divides(a.x_strides[0]) && divides(a.x_strides[1]) &&
         divides(a.x_strides[2]) && divides(a.out_strides[0]) && divides(a.out_strides[1]) &&
         divides(a.out_strides[2]) && a.x_strides[3] == 1 && a.out_strides[3] == 1 &&
         aligned(a.x, sizeof(In) * N) && aligned(a.out, sizeof(Out) * N) && aligned(a.cos, sizeof(C) * N) &&
         aligned(a.sin, sizeof(C) * N);
}

template <typename X, typename C, typename O, typename S, bool kBackward>
const char* rope_launch_typed(const RopeArgs& a, cudaStream_t stream) {
  using In = typename std::conditional<kBackward, S, X>::type;
  using Out = typename std::conditional<kBackward, X, S>::type;
  constexpr int kPack = 16 / static_cast<int>(sizeof(X));
  const std::int64_t pairs = a.B * a.H * a.T * (a.D / 2);
  if (rope_packable<In, C, Out, kPack>(a) && pairs < (std::int64_t{1} << 31)) {
    rope_kernel<X, C, O, S, kBackward, kPack, std::uint32_t>
        <<<blocks_for(pairs / kPack, kElemThreads, 132LL * 32), kElemThreads, 0, stream>>>(a);
  } else {
    rope_kernel<X, C, O, S, kBackward, 1, std::int64_t>
        <<<blocks_for(pairs, kElemThreads, 132LL * 32), kElemThreads, 0, stream>>>(a);
  }
  return last_error();
}

template <typename X, typename C, bool kBackward>
const char* rope_launch(const RopeArgs& a, cudaStream_t stream) {
  if (a.out_type == ElemType::kFloat32) {
    if (a.store_in_x_type && !std::is_same<X, float>::value) return rope_launch_typed<X, C, float, X, kBackward>(a, stream);
    return rope_launch_typed<X, C, float, float, kBackward>(a, stream);
  }
  return rope_launch_typed<X, C, X, X, kBackward>(a, stream);
}

template <typename X, bool kBackward>
const char* rope_typed(const RopeArgs& a, cudaStream_t stream) {
  switch (a.table_type) {
    case ElemType::kFloat32: return rope_launch<X, float, kBackward>(a, stream);
    case ElemType::kBFloat16: return rope_launch<X, __nv_bfloat16, kBackward>(a, stream);
    case ElemType::kFloat16: return rope_launch<X, __half, kBackward>(a, stream);
  }
  return "rope: unknown table type";
}

template <template <typename> class F, typename Args>
const char* dispatch(ElemType type, const Args& a, cudaStream_t stream) {
  switch (type) {
    case ElemType::kFloat32: return F<float>::run(a, stream);
    case ElemType::kBFloat16: return F<__nv_bfloat16>::run(a, stream);
    case ElemType::kFloat16: return F<__half>::run(a, stream);
  }
  return "fused kernels: unknown element type";
}

template <typename T>
struct RmsForward {
  static const char* run(const RmsNormArgs& a, cudaStream_t s) { return rms_typed<T, false>(a, s); }
};
template <typename T>
struct RmsBackward {
  static const char* run(const RmsNormArgs& a, cudaStream_t s) { return rms_typed<T, true>(a, s); }
};
template <typename T>
struct SiluForward {
  static const char* run(const SiluMulArgs& a, cudaStream_t s) { return silu_mul_typed<T, false>(a, s); }
};
template <typename T>
struct SiluBackward {
  static const char* run(const SiluMulArgs& a, cudaStream_t s) { return silu_mul_typed<T, true>(a, s); }
};
template <typename T>
struct RopeForward {
  static const char* run(const RopeArgs& a, cudaStream_t s) { return rope_typed<T, false>(a, s); }
};
template <typename T>
struct RopeBackward {
  static const char* run(const RopeArgs& a, cudaStream_t s) { return rope_typed<T, true>(a, s); }
};

}  // namespace

std::int64_t rms_norm_partial_rows(std::int64_t rows, std::int64_t /*dim*/) {
  return rows < kPartialRows ? (rows < 1 ? 1 : rows) : kPartialRows;
}

const char* rms_norm_forward(const RmsNormArgs& a, void* stream) {
  if (a.rows <= 0) return nullptr;
  return dispatch<RmsForward>(a.type, a, static_cast<cudaStream_t>(stream));
}

const char* rms_norm_backward(const RmsNormArgs& a, void* stream) {
  if (a.rows <= 0) return nullptr;
  return dispatch<RmsBackward>(a.type, a, static_cast<cudaStream_t>(stream));
}

const char* silu_mul_forward(const SiluMulArgs& a, void* stream) {
  if (a.n <= 0) return nullptr;
  return dispatch<SiluForward>(a.type, a, static_cast<cudaStream_t>(stream));
}

const char* silu_mul_backward(const SiluMulArgs& a, void* stream) {
  if (a.n <= 0) return nullptr;
  return dispatch<SiluBackward>(a.type, a, static_cast<cudaStream_t>(stream));
}

const char* rope_forward(const RopeArgs& a, void* stream) {
  if (a.B * a.H * a.T * a.D <= 0) return nullptr;
  return dispatch<RopeForward>(a.type, a, static_cast<cudaStream_t>(stream));
}

const char* rope_backward(const RopeArgs& a, void* stream) {
  if (a.B * a.H * a.T * a.D <= 0) return nullptr;
  return dispatch<RopeBackward>(a.type, a, static_cast<cudaStream_t>(stream));
}

}  // namespace distill::models::kernels
