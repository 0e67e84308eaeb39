// Element access shared by distill's CUDA kernels (src/loss/kd_rows.cu, src/models/fused_kernels.cu):
// fp32 / bf16 / fp16 loaded as fp32 and stored back with round-to-nearest, 16-byte packs of
// consecutive elements, and the launch error check. nvcc only.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace distill::cuda_elem {

__device__ __forceinline__ float load(float x) { return x; }
__device__ __forceinline__ float load(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float load(__half x) { return __half2float(x); }

template <typename T>
__device__ __forceinline__ T store(float x);
template <>
__device__ __forceinline__ float store<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __nv_bfloat16 store<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}
template <>
__device__ __forceinline__ __half store<__half>(float x) {
  return __float2half_rn(x);
}

// x rounded to T and back: where ATen's T-typed op would round.
template <typename T>
__device__ __forceinline__ float R(float x) {
  return load(store<T>(x));
}

// N consecutive elements, loaded and stored as one access.
template <typename T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

template <typename T, int N>
__device__ __forceinline__ void load_pack(const T* p, float (&out)[N]) {
  const Pack<T, N> v = *reinterpret_cast<const Pack<T, N>*>(p);
#pragma unroll
  for (int k = 0; k < N; ++k) out[k] = load(v.v[k]);
}

// A pack already loaded (say, a loop's next one, loaded before this one's arithmetic) as fp32.
template <typename T, int N>
__device__ __forceinline__ void unpack(const Pack<T, N>& v, float (&out)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k) out[k] = load(v.v[k]);
}

template <typename T, int N>
__device__ __forceinline__ void store_pack(T* p, const float (&in)[N]) {
  Pack<T, N> v;
#pragma unroll
  for (int k = 0; k < N; ++k) v.v[k] = store<T>(in[k]);
  *reinterpret_cast<Pack<T, N>*>(p) = v;
}

// Whether p (nullptr counts as aligned) is a multiple of `bytes`.
inline bool aligned(const void* p, std::size_t bytes) { return reinterpret_cast<std::uintptr_t>(p) % bytes == 0; }

// nullptr when the last launch succeeded, else the CUDA error's text.
inline const char* last_error() {
  const cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

}  // namespace distill::cuda_elem
