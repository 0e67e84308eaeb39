// The fused per-row distillation kernel (kd_rows.h says what and why). One thread block per row (on
// Hopper, when the row fits, one cluster of blocks per row with the row kept on chip: further below):
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
//
// Both passes of the two-read kernel are software-pipelined: each thread issues its next packs'
// loads before this pack's arithmetic (scripts/experiments/kd_rows_bench.cu: 598 -> 550 us per
// 1024-row chunk of Qwen's bf16 logits on the H200, the same output bits).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cooperative_groups.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "../util/cuda_elem.cuh"
#include "../../include/distill/util/env_switch.h"
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
template <int Warps>
__device__ Stats block_merge(Stats s, float inv_t, Stats* shared) {
  for (int offset = 16; offset > 0; offset /= 2) s = merge(s, shuffle_down(s, offset), inv_t);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) shared[warp] = s;
  __syncthreads();
  if (warp == 0) {
    s = lane < Warps ? shared[lane] : empty_stats();
    for (int offset = 16; offset > 0; offset /= 2) s = merge(s, shuffle_down(s, offset), inv_t);
    if (lane == 0) shared[0] = s;
  }
  __syncthreads();
  s = shared[0];
  __syncthreads();  // shared[] is reused by the next merge
  return s;
}

// The per-pack steps both kernels share. Columns come in packs of N; vs, vt are multiples of N (the
// launcher picks N so), so a pack lies wholly inside or outside each vocabulary.
struct RowConsts {
  float inv_t;
  bool t_is_one, entropies;
};

// Pass 1 for one pack: s (if has_s) and t (if has_t) folded into the running statistics.
template <int N>
__device__ __forceinline__ void accumulate(Stats& st, Stats& tt, const float (&s)[N], const float (&t)[N], bool has_s,
                                           bool has_t, bool shared_col, const RowConsts& c) {
  if (has_s) {
    float mx = s[0];
#pragma unroll
    for (int k = 1; k < N; ++k) mx = fmaxf(mx, s[k]);
    if (mx > st.m) rescale(st, mx, c.inv_t);
#pragma unroll
    for (int k = 0; k < N; ++k) {
      const float x = s[k] - st.m;
      const float e1 = __expf(x);
      st.z1 += e1;
      if (c.entropies) st.b1 += e1 * s[k];
      if (shared_col) st.zt += c.t_is_one ? e1 : __expf(x * c.inv_t);
    }
  }
  if (has_t) {
    float mx = t[0];
#pragma unroll
    for (int k = 1; k < N; ++k) mx = fmaxf(mx, t[k]);
    if (mx > tt.m) rescale(tt, mx, c.inv_t);
#pragma unroll
    for (int k = 0; k < N; ++k) {
      const float x = t[k] - tt.m;
      float e1 = 0.f;
      if (c.entropies || c.t_is_one) e1 = __expf(x);
      if (c.entropies) {
        tt.z1 += e1;
        tt.b1 += e1 * t[k];
      }
      if (shared_col) {
        const float et = c.t_is_one ? e1 : __expf(x * c.inv_t);
        tt.zt += et;
        tt.d += et * (t[k] - s[k]) * c.inv_t;
      }
    }
  }
}

// The row's KL, CE and entropies from the merged statistics (one thread per row writes them).
template <typename T>
__device__ void write_row_stats(const KdRowsArgs& a, std::int64_t row, const T* s_row, std::int64_t label,
                                bool with_teacher, const Stats& st, const Stats& tt, float inv_t) {
  const bool label_ok = label >= 0 && label < a.vs;
  const float s_label = label_ok ? load(s_row[label]) : NAN;
  const float log_z1_s = logf(st.z1);
  float* out = a.row_stats + row * 4;
  out[0] = with_teacher ? tt.d / tt.zt - (tt.m - st.m) * inv_t - logf(tt.zt) + logf(st.zt) : 0.f;
  out[1] = st.m + log_z1_s - s_label;
  out[2] = with_teacher && a.entropies ? tt.m + logf(tt.z1) - tt.b1 / tt.z1 : 0.f;
  out[3] = a.entropies ? st.m + log_z1_s - st.b1 / st.z1 : 0.f;
}

// Pass 2's constants for one row.
struct GradConsts {
  float c_ce, c_kd, inv_z1_s, inv_zt_s, inv_zt_t, inv_t, s_max, t_max;
  bool t_is_one;
};

__device__ __forceinline__ GradConsts grad_consts(const KdRowsArgs& a, bool with_teacher, const Stats& st,
                                                  const Stats& tt, const RowConsts& c) {
  return {1.0f - a.alpha, a.alpha * a.temperature, 1.0f / st.z1, 1.0f / st.zt, with_teacher ? 1.0f / tt.zt : 0.f,
          c.inv_t, st.m, tt.m, c.t_is_one};
}

// Pass 2 for one pack of columns [col, col + N): the gradient w.r.t. the student's logits.
template <typename T, int N>
__device__ __forceinline__ Pack<T, N> grad_pack(const float (&s)[N], const float (&t)[N], bool kd_col, std::int64_t col,
                                                std::int64_t label, const GradConsts& g) {
  Pack<T, N> out;
#pragma unroll
  for (int k = 0; k < N; ++k) {
    const float x = s[k] - g.s_max;
    const float e1 = __expf(x);
    float v = g.c_ce * (e1 * g.inv_z1_s - (col + k == label ? 1.f : 0.f));
    if (kd_col) {
      const float q = (g.t_is_one ? e1 : __expf(x * g.inv_t)) * g.inv_zt_s;
      const float p = __expf((t[k] - g.t_max) * g.inv_t) * g.inv_zt_t;
      v += g.c_kd * (q - p);
    }
    out.v[k] = store<T>(v);
  }
  return out;
}

// Zeros for an ignored row's gradient columns [begin, end).
template <typename T, int N, int Threads>
__device__ __forceinline__ void zero_grad(T* g_row, std::int64_t begin, std::int64_t end) {
  Pack<T, N> zero;
#pragma unroll
  for (int k = 0; k < N; ++k) zero.v[k] = store<T>(0.f);
  for (std::int64_t col = begin + threadIdx.x * N; col < end; col += Threads * N) {
    *reinterpret_cast<Pack<T, N>*>(g_row + col) = zero;
  }
}

template <typename T, int N>
__global__ void __launch_bounds__(kThreads) kd_rows_kernel(KdRowsArgs a) {
  __shared__ Stats shared[kWarps];
  const std::int64_t row = blockIdx.x;
  const std::int64_t label = a.labels[row];
  const bool with_teacher = a.teacher != nullptr;
  const std::int64_t vs = a.vs, vt = with_teacher ? a.vt : 0;
  const std::int64_t v = with_teacher ? (vs < vt ? vs : vt) : 0;  // the compared columns
  const std::int64_t width = vs > vt ? vs : vt;
  const T* s_row = static_cast<const T*>(a.student) + row * a.student_stride;
  const T* t_row = with_teacher ? static_cast<const T*>(a.teacher) + row * a.teacher_stride : nullptr;
  T* g_row = a.grad != nullptr ? static_cast<T*>(a.grad) + row * vs : nullptr;
  const RowConsts c{1.0f / a.temperature, a.temperature == 1.0f, a.entropies};

  if (label == a.ignore_index) {
    if (g_row != nullptr) zero_grad<T, N, kThreads>(g_row, 0, vs);
    if (threadIdx.x == 0) {
      for (int k = 0; k < 4; ++k) a.row_stats[row * 4 + k] = 0.f;
    }
    return;
  }

  // ---- pass 1: statistics.
  // The next packs' loads go out before this pack's arithmetic, so each thread keeps loads in
  // flight while it computes.
  using P = Pack<T, N>;
  constexpr std::int64_t kStride = static_cast<std::int64_t>(kThreads) * N;
  Stats st = empty_stats(), tt = empty_stats();
  std::int64_t col = threadIdx.x * N;
  P ps, pt;
  if (col < vs) ps = *reinterpret_cast<const P*>(s_row + col);
  if (col < vt) pt = *reinterpret_cast<const P*>(t_row + col);
  for (; col < width; col += kStride) {
    const std::int64_t next = col + kStride;
    P ns, nt;
    if (next < vs) ns = *reinterpret_cast<const P*>(s_row + next);
    if (next < vt) nt = *reinterpret_cast<const P*>(t_row + next);
    float s[N], t[N];
    unpack<T, N>(ps, s);
    unpack<T, N>(pt, t);
    accumulate<N>(st, tt, s, t, col < vs, col < vt, col < v, c);
    ps = ns;
    pt = nt;
  }
  st = block_merge<kWarps>(st, c.inv_t, shared);
  if (with_teacher) tt = block_merge<kWarps>(tt, c.inv_t, shared);
  if (threadIdx.x == 0) write_row_stats<T>(a, row, s_row, label, with_teacher, st, tt, c.inv_t);
  if (g_row == nullptr) return;

  // ---- pass 2: the gradient, reading both rows again.
  const bool kd_grad = with_teacher && a.alpha > 0.f;
  const GradConsts g = grad_consts(a, with_teacher, st, tt, c);
  col = threadIdx.x * N;
  if (col < vs) ps = *reinterpret_cast<const P*>(s_row + col);
  if (kd_grad && col < v) pt = *reinterpret_cast<const P*>(t_row + col);
  for (; col < vs; col += kStride) {
    const std::int64_t next = col + kStride;
    P ns, nt;
    if (next < vs) ns = *reinterpret_cast<const P*>(s_row + next);
    if (kd_grad && next < v) nt = *reinterpret_cast<const P*>(t_row + next);
    const bool kd_col = kd_grad && col < v;
    float s[N], t[N];
    unpack<T, N>(ps, s);
    unpack<T, N>(pt, t);
    *reinterpret_cast<P*>(g_row + col) = grad_pack<T, N>(s, t, kd_col, col, label, g);
    ps = ns;
    pt = nt;
  }
}

// ---- One row per cluster of C blocks, the row kept on chip (Hopper and later).
// Pass 2 of the kernel above re-reads both rows from memory: with 264 rows of 608 KB in flight
// (Qwen's 152k-column rows in bf16, two blocks per SM) against a 60 MB L2, they are gone by then.
// Here the C blocks of a cluster split one row's columns; each keeps its part of both rows in its
// shared memory while pass 1 reads them, the blocks merge their statistics through distributed
// shared memory, and pass 2 reads the parts back from shared memory: one read of the logits from
// memory instead of two.
constexpr int kClusterThreads = 1024;

template <typename T, int N>
__global__ void __launch_bounds__(kClusterThreads, 1) kd_rows_cluster_kernel(KdRowsArgs a, std::int64_t part) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  namespace cg = cooperative_groups;
  constexpr int kClusterWarps = kClusterThreads / 32;
  cg::cluster_group cluster = cg::this_cluster();
  const unsigned rank = cluster.block_rank(), blocks = cluster.num_blocks();
  __shared__ Stats shared[kClusterWarps];
  __shared__ Stats block_stats[2];  // this block's merged statistics, read by the cluster
  extern __shared__ __align__(16) unsigned char stage_bytes[];
  T* s_stage = reinterpret_cast<T*>(stage_bytes);  // columns [begin, end) of the student's row
  const std::int64_t row = blockIdx.x / blocks;
  const std::int64_t label = a.labels[row];
  const bool with_teacher = a.teacher != nullptr;
  const std::int64_t vs = a.vs, vt = with_teacher ? a.vt : 0;
  const std::int64_t v = with_teacher ? (vs < vt ? vs : vt) : 0;
  const std::int64_t width = vs > vt ? vs : vt;
  const std::int64_t begin = static_cast<std::int64_t>(rank) * part;
  const std::int64_t end = begin + part < width ? begin + part : width;
  T* t_stage = s_stage + part;  // columns [begin, end) of the teacher's row
  const T* s_row = static_cast<const T*>(a.student) + row * a.student_stride;
  const T* t_row = with_teacher ? static_cast<const T*>(a.teacher) + row * a.teacher_stride : nullptr;
  T* g_row = a.grad != nullptr ? static_cast<T*>(a.grad) + row * vs : nullptr;
  const RowConsts c{1.0f / a.temperature, a.temperature == 1.0f, a.entropies};

  if (label == a.ignore_index) {  // every block of the cluster sees the same row: none waits on another
    if (g_row != nullptr) zero_grad<T, N, kClusterThreads>(g_row, begin, end < vs ? end : vs);
    if (rank == 0 && threadIdx.x == 0) {
      for (int k = 0; k < 4; ++k) a.row_stats[row * 4 + k] = 0.f;
    }
    return;
  }

  // ---- pass 1: statistics of this block's columns, which stay in shared memory.
  Stats st = empty_stats(), tt = empty_stats();
  for (std::int64_t col = begin + threadIdx.x * N; col < end; col += kClusterThreads * N) {
    float s[N], t[N];
    Pack<T, N> sp, tp;
    if (col < vs) sp = *reinterpret_cast<const Pack<T, N>*>(s_row + col);
    if (col < vt) tp = *reinterpret_cast<const Pack<T, N>*>(t_row + col);
    if (col < vs) {
      *reinterpret_cast<Pack<T, N>*>(s_stage + (col - begin)) = sp;
#pragma unroll
      for (int k = 0; k < N; ++k) s[k] = load(sp.v[k]);
    }
    if (col < vt) {
      *reinterpret_cast<Pack<T, N>*>(t_stage + (col - begin)) = tp;
#pragma unroll
      for (int k = 0; k < N; ++k) t[k] = load(tp.v[k]);
    }
    accumulate<N>(st, tt, s, t, col < vs, col < vt, col < v, c);
  }
  st = block_merge<kClusterWarps>(st, c.inv_t, shared);
  if (with_teacher) tt = block_merge<kClusterWarps>(tt, c.inv_t, shared);
  if (threadIdx.x == 0) {
    block_stats[0] = st;
    block_stats[1] = tt;
  }
  cluster.sync();  // every block's statistics written
  // Every block merges the C parts in rank order: the same arithmetic, so the same values, in each.
  st = empty_stats();
  tt = empty_stats();
  for (unsigned r = 0; r < blocks; ++r) {
    const Stats* remote = cluster.map_shared_rank(block_stats, r);
    st = merge(st, remote[0], c.inv_t);
    if (with_teacher) tt = merge(tt, remote[1], c.inv_t);
  }
  cluster.sync();  // no block leaves (its shared memory with it) before all have read
  if (rank == 0 && threadIdx.x == 0) write_row_stats<T>(a, row, s_row, label, with_teacher, st, tt, c.inv_t);
  if (g_row == nullptr) return;

  // ---- pass 2: the gradient of this block's columns, both rows read from shared memory.
  const bool kd_grad = with_teacher && a.alpha > 0.f;
  const GradConsts g = grad_consts(a, with_teacher, st, tt, c);
  const std::int64_t s_end = end < vs ? end : vs;
  for (std::int64_t col = begin + threadIdx.x * N; col < s_end; col += kClusterThreads * N) {
    float s[N], t[N];
    load_pack<T, N>(s_stage + (col - begin), s);
    const bool kd_col = kd_grad && col < v;
    if (kd_col) load_pack<T, N>(t_stage + (col - begin), t);
    *reinterpret_cast<Pack<T, N>*>(g_row + col) = grad_pack<T, N>(s, t, kd_col, col, label, g);
  }
#else
  (void)a;
  (void)part;
  __trap();  // never launched below sm_90 (launch_cluster checks the device)
#endif
}

// Off unless DISTILL_KD_ROWS_CLUSTER=1: it agrees with the two-read kernel on the H200
// (LossKernelCuda.OneReadClusterKernelAgreesWithTheTwoReadKernel) but measured no faster there
// (docs/loss.md).
bool g_cluster_enabled = env_switch("DISTILL_KD_ROWS_CLUSTER", false);

// The cluster kernel when the device has clusters (sm_90+) and one row's parts fit the shared
// memory of at most 8 blocks; returns false (nothing launched) otherwise.
template <typename T, int N>
bool launch_cluster(const KdRowsArgs& a, cudaStream_t stream) {
  if (!g_cluster_enabled) return false;
  int device = 0, major = 0, smem_optin = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess || major < 9) return false;
  if (cudaDeviceGetAttribute(&smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess) return false;
  const std::int64_t vt = a.teacher != nullptr ? a.vt : 0;
  const std::int64_t width = a.vs > vt ? a.vs : vt;
  const std::int64_t budget = smem_optin - 4096;  // the static shared memory beside the stage
  for (int blocks = 1; blocks <= 8; blocks *= 2) {
    std::int64_t part = (width + blocks - 1) / blocks;
    part = (part + N - 1) / N * N;
    const std::int64_t bytes = part * static_cast<std::int64_t>(sizeof(T)) * (a.teacher != nullptr ? 2 : 1);
    if (bytes > budget) continue;
    if (a.rows * blocks > 0x7fffffffLL) return false;
    auto kernel = kd_rows_cluster_kernel<T, N>;
    if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)) !=
        cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3(static_cast<unsigned>(a.rows * blocks));
    config.blockDim = dim3(kClusterThreads);
    config.dynamicSmemBytes = static_cast<std::size_t>(bytes);
    config.stream = stream;
    cudaLaunchAttribute attribute[1];
    attribute[0].id = cudaLaunchAttributeClusterDimension;
    attribute[0].val.clusterDim.x = static_cast<unsigned>(blocks);
    attribute[0].val.clusterDim.y = 1;
    attribute[0].val.clusterDim.z = 1;
    config.attrs = attribute;
    config.numAttrs = 1;
    if (cudaLaunchKernelEx(&config, kernel, a, part) != cudaSuccess) {
      // A cluster this size cannot be placed on this device: the two-read kernel from now on.
      cudaGetLastError();
      g_cluster_enabled = false;
      return false;
    }
    return true;
  }
  return false;
}

template <typename T>
const char* launch_typed(const KdRowsArgs& a, cudaStream_t stream) {
  constexpr int kPack = 16 / static_cast<int>(sizeof(T));  // 16-byte accesses
  const bool packed = a.vs % kPack == 0 && a.student_stride % kPack == 0 && aligned(a.student, 16) &&
                      (a.grad == nullptr || aligned(a.grad, 16)) &&
                      (a.teacher == nullptr || (a.vt % kPack == 0 && a.teacher_stride % kPack == 0 && aligned(a.teacher, 16)));
  const dim3 grid(static_cast<unsigned>(a.rows)), block(kThreads);
  if (packed) {
    if (launch_cluster<T, kPack>(a, stream)) return nullptr;
    kd_rows_kernel<T, kPack><<<grid, block, 0, stream>>>(a);
  } else {
    kd_rows_kernel<T, 1><<<grid, block, 0, stream>>>(a);
  }
  return last_error();
}

}  // namespace

void set_kd_rows_cluster(bool on) { g_cluster_enabled = on; }

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
