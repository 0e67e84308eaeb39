// cuBLASLt products with a per-shape algorithm chosen by timing (include/distill/util/tuned_gemm.h).
#include "distill/util/tuned_gemm.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "distill/util/autocast.h"
#include "distill/util/env_switch.h"
#include "distill/util/errors.h"
#include "distill/util/logging.h"

#if DISTILL_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cublasLt.h>
#include <cuda_runtime.h>
#endif

namespace distill {
namespace {

#if DISTILL_WITH_CUDA
bool g_enabled = env_switch("DISTILL_TUNED_GEMM", true);
#else
bool g_enabled = false;
#endif
// 2 M N K: about 0.13 ms on an H200. Smaller products are left to ATen: their candidates differ by
// less than the timing's noise.
std::atomic<double> g_min_flops{1e11};
// A shape is tuned at its second product: training repeats its shapes every step, while a run
// whose shapes keep changing (prompts of many lengths) would otherwise time candidates for each.
std::atomic<int> g_min_uses{2};
std::atomic<std::int64_t> g_shapes{0};
std::atomic<std::int64_t> g_products{0};
std::atomic<int> g_last_choice{-1};

}  // namespace

bool tuned_gemm_enabled() { return g_enabled; }

void set_tuned_gemm(bool on) {
#if DISTILL_WITH_CUDA
  g_enabled = on;
#else
  (void)on;
#endif
}

void set_tuned_gemm_min_flops(double flops) { g_min_flops = flops; }
void set_tuned_gemm_min_uses(int uses) { g_min_uses = uses; }
std::int64_t tuned_gemm_shapes() { return g_shapes.load(); }
std::int64_t tuned_gemm_products() { return g_products.load(); }
int tuned_gemm_last_choice() { return g_last_choice.load(); }

at::Tensor linear_tuned_or_aten(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (at::Tensor y = tuned_linear(x, weight, bias); y.defined()) return y;
  return bias.defined() ? at::linear(x, weight, bias) : at::linear(x, weight);
}

#if DISTILL_WITH_CUDA

namespace {

constexpr std::size_t kMaxWorkspace = 32u << 20;
constexpr int kCandidates = 16;
constexpr int kRounds = 3;  // each candidate timed once per round, rounds interleaved against clock drift
constexpr int kRepeats = 3;
constexpr double kMargin = 0.02;  // another algorithm than the heuristic's first must be 2% faster

void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw Error(ExitCode::kInternal, std::string("cuBLASLt ") + what + " failed: " + cublasGetStatusString(status));
  }
}

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw Error(ExitCode::kInternal, std::string("CUDA ") + what + " failed: " + cudaGetErrorString(status));
  }
}

// The largest power of two up to 256 that divides the address (cuBLASLt assumes 256 unless told).
std::uint32_t alignment(const void* p) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  std::uint32_t align = 256;
  while (align > 1 && a % align != 0) align /= 2;
  return align;
}

// Everything the algorithm's choice depends on.
using Key = std::tuple<int, int, std::int64_t, std::int64_t, std::int64_t, bool, std::uint32_t, std::uint32_t,
                       std::uint32_t>;  // device, dtype, M, N, K, bias, alignments of weight, x, out

struct Choice {
  cublasLtMatmulAlgo_t algo;
  std::size_t workspace = 0;
  bool usable = true;  // false: tuning this shape failed; it stays with ATen
};

constexpr std::size_t kMaxShapes = 256;    // tuned shapes kept; later new shapes stay with ATen
constexpr std::size_t kMaxSightings = 4096;  // untuned shapes counted; the count restarts past it

std::mutex g_mutex;
std::map<Key, Choice> g_choices;
std::map<Key, int> g_sightings;  // products of a shape not tuned yet

// The descriptors of y (M, N) = x (M, K) W^T (N, K) (+ b), in cuBLASLt's column-major terms:
// y^T (N, M) = W (as the column-major (K, N) matrix it is in memory, transposed) times x^T (K, M).
struct Product {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t w = nullptr, x = nullptr, y = nullptr;

  Product(cudaDataType_t type, std::int64_t M, std::int64_t N, std::int64_t K, std::int64_t ldw, const void* bias) {
    check(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "descriptor");
    const cublasOperation_t t = CUBLAS_OP_T, n = CUBLAS_OP_N;
    check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)), "descriptor");
    check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &n, sizeof(n)), "descriptor");
    if (bias != nullptr) {
      const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
      check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)),
            "descriptor");
      check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)), "descriptor");
    }
    check(cublasLtMatrixLayoutCreate(&w, type, K, N, ldw), "layout");
    check(cublasLtMatrixLayoutCreate(&x, type, K, M, K), "layout");
    check(cublasLtMatrixLayoutCreate(&y, type, N, M, N), "layout");
  }
  ~Product() {
    if (y) cublasLtMatrixLayoutDestroy(y);
    if (x) cublasLtMatrixLayoutDestroy(x);
    if (w) cublasLtMatrixLayoutDestroy(w);
    if (op) cublasLtMatmulDescDestroy(op);
  }
  Product(const Product&) = delete;
  Product& operator=(const Product&) = delete;
};

struct Operands {
  const void* w;
  const void* x;
  void* y;
};

void launch(cublasLtHandle_t lt, const Product& p, const Operands& o, const cublasLtMatmulAlgo_t& algo, void* workspace,
            std::size_t workspace_size, cudaStream_t stream) {
  const float alpha = 1.0f, beta = 0.0f;
  check(cublasLtMatmul(lt, p.op, &alpha, o.w, p.w, o.x, p.x, &beta, o.y, p.y, o.y, p.y, &algo, workspace,
                       workspace_size, stream),
        "matmul");
}

// Times the heuristic's candidates on the real operands (the output is written again after) and
// returns the fastest, or the first where no other is kMargin faster.
Choice tune(cublasLtHandle_t lt, const Product& p, const Operands& o, const at::Device& device, cudaStream_t stream,
            std::int64_t M, std::int64_t N, std::int64_t K) {
  cublasLtMatmulPreference_t pref = nullptr;
  check(cublasLtMatmulPreferenceCreate(&pref), "preference");
  const std::size_t max_workspace = kMaxWorkspace;
  const std::uint32_t aw = alignment(o.w), ax = alignment(o.x), ay = alignment(o.y);
  cublasLtMatmulHeuristicResult_t results[kCandidates];
  int found = 0;
  cublasStatus_t status =
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &max_workspace,
                                           sizeof(max_workspace));
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &aw, sizeof(aw));
  }
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &ax, sizeof(ax));
  }
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &ay, sizeof(ay));
  }
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &ay, sizeof(ay));
  }
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatmulAlgoGetHeuristic(lt, p.op, p.w, p.x, p.y, p.y, pref, kCandidates, results, &found);
  }
  cublasLtMatmulPreferenceDestroy(pref);
  check(status, "heuristic");
  std::vector<int> usable;
  for (int i = 0; i < found; ++i) {
    if (results[i].state == CUBLAS_STATUS_SUCCESS && results[i].workspaceSize <= kMaxWorkspace) usable.push_back(i);
  }
  if (usable.empty()) throw Error(ExitCode::kInternal, "cuBLASLt offered no algorithm for a product");
  std::size_t most = 0;
  for (int i : usable) most = std::max(most, results[i].workspaceSize);
  const at::Tensor workspace = at::empty({static_cast<std::int64_t>(std::max<std::size_t>(most, 1))},
                                         at::TensorOptions().dtype(at::kByte).device(device));

  cudaEvent_t start = nullptr, stop = nullptr;
  check(cudaEventCreate(&start), "event");
  check(cudaEventCreate(&stop), "event");
  std::vector<float> best(usable.size(), 1e30f);
  try {
    for (int round = -1; round < kRounds; ++round) {  // round -1 warms each candidate up
      for (std::size_t c = 0; c < usable.size(); ++c) {
        const Choice candidate{results[usable[c]].algo, results[usable[c]].workspaceSize};
        check(cudaEventRecord(start, stream), "event");
        for (int r = 0; r < (round < 0 ? 1 : kRepeats); ++r) {
          launch(lt, p, o, candidate.algo, workspace.data_ptr(), candidate.workspace, stream);
        }
        check(cudaEventRecord(stop, stream), "event");
        check(cudaEventSynchronize(stop), "event");
        float ms = 0;
        check(cudaEventElapsedTime(&ms, start, stop), "event");
        if (round >= 0) best[c] = std::min(best[c], ms / kRepeats);
      }
    }
  } catch (...) {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    throw;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::size_t pick = 0;
  for (std::size_t c = 1; c < usable.size(); ++c) {
    if (best[c] < best[pick]) pick = c;
  }
  if (usable[0] == 0 && pick != 0 && best[pick] > best[0] * (1.0 - kMargin)) pick = 0;
  log::debug("products: {} x {} x {} (M x N x K): cuBLASLt algorithm {} of {}, {:.3f} ms (the heuristic's first: "
             "{:.3f} ms)",
             M, N, K, usable[pick], usable.size(), best[pick], best[0]);
  g_last_choice = usable[pick];
  ++g_shapes;
  return {results[usable[pick]].algo, results[usable[pick]].workspaceSize, true};
}

}  // namespace

at::Tensor tuned_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (!g_enabled || !x.defined() || !weight.defined() || !x.is_cuda() || !weight.is_cuda()) return {};
  const at::ScalarType dtype = x.scalar_type();
  if ((dtype != at::kBFloat16 && dtype != at::kHalf) || weight.scalar_type() != dtype) return {};
  if (x.device() != weight.device() || x.dim() < 2 || weight.dim() != 2 || x.size(-1) != weight.size(1)) return {};
  if (bias.defined() && (!bias.is_cuda() || bias.device() != x.device() || bias.scalar_type() != dtype ||
                         bias.dim() != 1 || bias.size(0) != weight.size(0) || !bias.is_contiguous())) {
    return {};
  }
  if (at::GradMode::is_enabled() &&
      (x.requires_grad() || weight.requires_grad() || (bias.defined() && bias.requires_grad()))) {
    return {};
  }
  const AutocastState autocast = autocast_state(c10::DeviceType::CUDA);
  if (autocast.enabled && autocast.dtype != dtype) return {};
  const std::int64_t K = weight.size(1), N = weight.size(0), M = x.numel() / std::max<std::int64_t>(K, 1);
  if (M == 0 || N == 0 || K == 0 || 2.0 * static_cast<double>(M) * N * K < g_min_flops.load()) return {};
  if (!x.is_contiguous() || weight.stride(1) != 1 || weight.stride(0) < K) return {};
  const std::int64_t limit = std::numeric_limits<std::int32_t>::max();
  if (M > limit || N > limit || K > limit || weight.stride(0) > limit) return {};

  const c10::cuda::CUDAGuard guard(x.device());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream(x.device().index()).stream();
  std::vector<std::int64_t> sizes = x.sizes().vec();
  sizes.back() = N;
  at::Tensor y = at::empty(sizes, x.options());
  const Operands o{weight.data_ptr(), x.data_ptr(), y.data_ptr()};
  const cudaDataType_t type = dtype == at::kBFloat16 ? CUDA_R_16BF : CUDA_R_16F;
  const Product p(type, M, N, K, weight.stride(0), bias.defined() ? bias.data_ptr() : nullptr);
  const Key key{x.device().index(), static_cast<int>(dtype), M, N, K, bias.defined(), alignment(o.w),
                alignment(o.x), alignment(o.y)};
#if TORCH_VERSION_MAJOR >= 2
  cublasLtHandle_t lt = at::cuda::getCurrentCUDABlasLtHandle();
#else
  static cublasLtHandle_t lt = [] {
    cublasLtHandle_t h = nullptr;
    check(cublasLtCreate(&h), "handle");
    return h;
  }();
#endif

  Choice choice;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = g_choices.find(key);
    if (it == g_choices.end()) {
      if (g_choices.size() >= kMaxShapes) return {};
      if (g_sightings.size() >= kMaxSightings) g_sightings.clear();
      if (++g_sightings[key] < g_min_uses.load()) return {};
      g_sightings.erase(key);
      cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
      check(cudaStreamIsCapturing(stream, &capture), "stream query");
      if (capture != cudaStreamCaptureStatusNone) return {};  // timing would break the capture
      Choice tuned;
      try {
        tuned = tune(lt, p, o, x.device(), stream, M, N, K);
      } catch (const Error& e) {
        // No algorithm, or one that failed while being timed: this shape stays with ATen.
        log::warn("products: {} x {} x {} stays with ATen ({})", M, N, K, e.what());
        tuned.usable = false;
      }
      it = g_choices.emplace(key, tuned).first;
    }
    choice = it->second;
  }
  if (!choice.usable) return {};
  at::Tensor workspace;
  if (choice.workspace > 0) {
    workspace = at::empty({static_cast<std::int64_t>(choice.workspace)}, x.options().dtype(at::kByte));
  }
  launch(lt, p, o, choice.algo, workspace.defined() ? workspace.data_ptr() : nullptr, choice.workspace, stream);
  ++g_products;
  return y;
}

#else

at::Tensor tuned_linear(const at::Tensor&, const at::Tensor&, const at::Tensor&) { return {}; }

#endif

}  // namespace distill
