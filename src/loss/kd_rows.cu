// The fused per-row distillation kernel (kd_rows.h says what and why). One thread block per row:
//
//   pass 1  reads the student's and the teacher's logits once and keeps online softmax statistics
//           (running max, sums rescaled when the max grows), merged across the block;
//   pass 2  reads them again and writes the gradient w.r.t. the student's logits, once, in their dtype.
//
// With s the student's and t the teacher's logits of one row, m their maxima, v = min(vs, vt):
//   z1 = sum_{i<V} e^(x_i - m)          b1 = sum_{i<V} e^(x_i - m) x_i      (T = 1, whole vocabulary)
//   zT = sum_{i<v} e^((x_i - m) / T)    d  = sum_{i<v} e^((t_i - m_t) / T) (t_i - s_i) / T
//   CE       = m_s + log z1_s - s_label
//   entropy  = m + log z1 - b1 / z1
//   KL(p||q) = d / zT_t - (m_t - m_s) / T - log zT_t + log zT_s          (p teacher, q student at T)
//   dloss/ds_i = (1 - alpha) (e^(s_i - m_s) / z1_s - [i = label]) + alpha T (q_i - p_i)   (q, p: i < v)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "../util/cuda_elem.cuh"
#include "kd_rows.h"

namespace distill::loss::kernels {

namespace {

using namespace cuda_elem;

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;

// Online softmax statistics of one distribution over the part of a row one thread (or, after the
// merge, the block) has seen. Empty: m = -inf and every sum 0.
struct Stats {
  float m, z1, b1, zt, d;
};

__device__ __forceinline__ Stats empty_stats() { return {-INFINITY, 0.f, 0.f, 0.f, 0.f}; }

// Moves the statistics to a new, larger max.
__device__ __forceinline__ void rescale(Stats& s, float new_max, float inv_t) {
  const float delta = s.m - new_max;  // <= 0; -inf while empty, which gives factors of 0
  const float f1 = __expf(delta), ft = __expf(delta * inv_t);
  s.z1 *= f1;
  s.b1 *= f1;
  s.zt *= ft;
  s.d *= ft;
  s.m = new_max;
}

__device__ __forceinline__ Stats merge(Stats a, Stats b, float inv_t) {
  const float m = fmaxf(a.m, b.m);
  if (m == -INFINITY) return a;
  rescale(a, m, inv_t);
  rescale(b, m, inv_t);
  return {m, a.z1 + b.z1, a.b1 + b.b1, a.zt + b.zt, a.d + b.d};
}

__device__ __forceinline__ Stats shuffle_down(const Stats& s, int offset) {
  return {__shfl_down_sync(0xffffffffu, s.m, offset), __shfl_down_sync(0xffffffffu, s.z1, offset),
          __shfl_down_sync(0xffffffffu, s.b1, offset), __shfl_down_sync(0xffffffffu, s.zt, offset),
          __shfl_down_sync(0xffffffffu, s.d, offset)};
}

// Merges every thread's statistics; the block's result is returned to every thread.
__device__ Stats block_merge(Stats s, float inv_t, Stats* shared) {
  for (int offset = 16; offset > 0; offset /= 2) s = merge(s, shuffle_down(s, offset), inv_t);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) shared[warp] = s;
  __syncthreads();
  if (warp == 0) {
    s = lane < kWarps ? shared[lane] : empty_stats();
    for (int offset = 16; offset > 0; offset /= 2) s = merge(s, shuffle_down(s, offset), inv_t);
    if (lane == 0) shared[0] = s;
  }
  __syncthreads();
  s = shared[0];
  __syncthreads();  // shared[] is reused by the next merge
  return s;
}

template <typename T, int N>
__global__ void __launch_bounds__(kThreads) kd_rows_kernel(KdRowsArgs a) {
  __shared__ Stats shared[kWarps];
  const std::int64_t row = blockIdx.x;
  const std::int64_t label = a.labels[row];
  const bool ignored = label == a.ignore_index;
  const bool with_teacher = a.teacher != nullptr;
  const std::int64_t vs = a.vs, vt = with_teacher ? a.vt : 0;
  const std::int64_t v = with_teacher ? (vs < vt ? vs : vt) : 0;  // the compared columns
  const std::int64_t width = vs > vt ? vs : vt;
  const T* s_row = static_cast<const T*>(a.student) + row * a.student_stride;
  const T* t_row = with_teacher ? static_cast<const T*>(a.teacher) + row * a.teacher_stride : nullptr;
  T* g_row = a.grad != nullptr ? static_cast<T*>(a.grad) + row * vs : nullptr;
  const float inv_t = 1.0f / a.temperature;
  const bool t_is_one = a.temperature == 1.0f;

  if (ignored) {
    if (g_row != nullptr) {
      Pack<T, N> zero;
#pragma unroll
      for (int k = 0; k < N; ++k) zero.v[k] = store<T>(0.f);
      for (std::int64_t col = threadIdx.x * N; col < vs; col += kThreads * N) {
        *reinterpret_cast<Pack<T, N>*>(g_row + col) = zero;
      }
    }
    if (threadIdx.x == 0) {
      for (int k = 0; k < 4; ++k) a.row_stats[row * 4 + k] = 0.f;
    }
    return;
  }

  // ---- pass 1: statistics. Columns come in packs of N; vs, vt are multiples of N (the launcher
  // picks N so), so a pack lies wholly inside or outside each vocabulary.
  Stats st = empty_stats(), tt = empty_stats();
  for (std::int64_t col = threadIdx.x * N; col < width; col += kThreads * N) {
    const bool shared_col = col < v;
    float s[N], t[N];
    // Both loads before any arithmetic: two 16-byte requests in flight per thread, not one.
    if (col < vs) load_pack<T, N>(s_row + col, s);
    if (col < vt) load_pack<T, N>(t_row + col, t);
    if (col < vs) {
      float mx = s[0];
#pragma unroll
      for (int k = 1; k < N; ++k) mx = fmaxf(mx, s[k]);
      if (mx > st.m) rescale(st, mx, inv_t);
#pragma unroll
      for (int k = 0; k < N; ++k) {
        const float x = s[k] - st.m;
        const float e1 = __expf(x);
        st.z1 += e1;
        if (a.entropies) st.b1 += e1 * s[k];
        if (shared_col) st.zt += t_is_one ? e1 : __expf(x * inv_t);
      }
    }
    if (col < vt) {
      float mx = t[0];
#pragma unroll
      for (int k = 1; k < N; ++k) mx = fmaxf(mx, t[k]);
      if (mx > tt.m) rescale(tt, mx, inv_t);
#pragma unroll
      for (int k = 0; k < N; ++k) {
        const float x = t[k] - tt.m;
        float e1 = 0.f;
        if (a.entropies || t_is_one) e1 = __expf(x);
        if (a.entropies) {
          tt.z1 += e1;
          tt.b1 += e1 * t[k];
        }
        if (shared_col) {
          const float et = t_is_one ? e1 : __expf(x * inv_t);
          tt.zt += et;
          tt.d += et * (t[k] - s[k]) * inv_t;
        }
      }
    }
  }
  st = block_merge(st, inv_t, shared);
  if (with_teacher) tt = block_merge(tt, inv_t, shared);

  const float log_z1_s = logf(st.z1);
  if (threadIdx.x == 0) {
    const bool label_ok = label >= 0 && label < vs;
    const float s_label = label_ok ? load(s_row[label]) : NAN;
    float* out = a.row_stats + row * 4;
    out[0] = with_teacher ? tt.d / tt.zt - (tt.m - st.m) * inv_t - logf(tt.zt) + logf(st.zt) : 0.f;
    out[1] = st.m + log_z1_s - s_label;
    out[2] = with_teacher && a.entropies ? tt.m + logf(tt.z1) - tt.b1 / tt.z1 : 0.f;
    out[3] = a.entropies ? st.m + log_z1_s - st.b1 / st.z1 : 0.f;
  }
  if (g_row == nullptr) return;

  // ---- pass 2: the gradient.
  const float c_ce = 1.0f - a.alpha, c_kd = a.alpha * a.temperature;
  const bool kd_grad = with_teacher && a.alpha > 0.f;
  const float inv_z1_s = 1.0f / st.z1;
  const float inv_zt_s = 1.0f / st.zt, inv_zt_t = with_teacher ? 1.0f / tt.zt : 0.f;
  for (std::int64_t col = threadIdx.x * N; col < vs; col += kThreads * N) {
    float s[N], t[N];
    load_pack<T, N>(s_row + col, s);
    const bool kd_col = kd_grad && col < v;
    if (kd_col) load_pack<T, N>(t_row + col, t);
    Pack<T, N> out;
#pragma unroll
    for (int k = 0; k < N; ++k) {
      const float x = s[k] - st.m;
      const float e1 = __expf(x);
      float g = c_ce * (e1 * inv_z1_s - (col + k == label ? 1.f : 0.f));
      if (kd_col) {
        const float q = (t_is_one ? e1 : __expf(x * inv_t)) * inv_zt_s;
        const float p = __expf((t[k] - tt.m) * inv_t) * inv_zt_t;
        g += c_kd * (q - p);
      }
      out.v[k] = store<T>(g);
    }
    *reinterpret_cast<Pack<T, N>*>(g_row + col) = out;
  }
}

template <typename T>
const char* launch_typed(const KdRowsArgs& a, cudaStream_t stream) {
  constexpr int kPack = 16 / static_cast<int>(sizeof(T));  // 16-byte accesses
  const bool packed = a.vs % kPack == 0 && a.student_stride % kPack == 0 && aligned(a.student, 16) &&
                      (a.grad == nullptr || aligned(a.grad, 16)) &&
                      (a.teacher == nullptr || (a.vt % kPack == 0 && a.teacher_stride % kPack == 0 && aligned(a.teacher, 16)));
  const dim3 grid(static_cast<unsigned>(a.rows)), block(kThreads);
  if (packed) {
    kd_rows_kernel<T, kPack><<<grid, block, 0, stream>>>(a);
  } else {
    kd_rows_kernel<T, 1><<<grid, block, 0, stream>>>(a);
  }
  return last_error();
}

}  // namespace

const char* launch_kd_rows(const KdRowsArgs& args, void* stream) {
  if (args.rows <= 0) return nullptr;
  if (args.rows > 0x7fffffffLL) return "kd_rows: more rows than one launch's grid holds";
  const auto s = static_cast<cudaStream_t>(stream);
  switch (args.type) {
    case LogitType::kFloat32: return launch_typed<float>(args, s);
    case LogitType::kBFloat16: return launch_typed<__nv_bfloat16>(args, s);
    case LogitType::kFloat16: return launch_typed<__half>(args, s);
  }
  return "kd_rows: unknown logit type";
}

}  // namespace distill::loss::kernels
