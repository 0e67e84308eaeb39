// cuBLASLt products with a per-shape algorithm chosen by timing (include/distill/util/tuned_gemm.h).
#include "distill/util/tuned_gemm.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
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

#include "blas_operand.h"
#endif

namespace distill {
namespace {

#if DISTILL_WITH_CUDA
bool g_enabled = env_switch("DISTILL_TUNED_GEMM", true);
#else
bool g_enabled = false;
#endif
// 2 M N K: 1e10 is about 15 us on an H200, a Qwen2.5-0.5B student's smallest product at 8192
// tokens (its o product; scripts/experiments/gemm_algos.cu found candidates 5-13% faster than the
// heuristic's first for its products). Smaller ones are left to ATen. DISTILL_TUNED_GEMM_MIN_FLOP
// sets it (for A/Bs).
double min_flops_from_env() {
  const char* v = std::getenv("DISTILL_TUNED_GEMM_MIN_FLOP");
  if (v == nullptr || *v == '\0') return 1e10;
  char* end = nullptr;
  const double d = std::strtod(v, &end);
  return end != v && d >= 0 ? d : 1e10;
}
std::atomic<double> g_min_flops{min_flops_from_env()};
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
double tuned_gemm_min_flops() { return g_min_flops.load(); }
void set_tuned_gemm_min_uses(int uses) { g_min_uses = uses; }
std::int64_t tuned_gemm_shapes() { return g_shapes.load(); }
std::int64_t tuned_gemm_products() { return g_products.load(); }
int tuned_gemm_last_choice() { return g_last_choice.load(); }

at::Tensor linear_tuned_or_aten(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (at::Tensor y = tuned_linear(x, weight, bias); y.defined()) return y;
  return bias.defined() ? at::linear(x, weight, bias) : at::linear(x, weight);
}

at::Tensor mm_tuned_or_aten(const at::Tensor& a, const at::Tensor& b) {
  if (at::Tensor c = tuned_mm(a, b); c.defined()) return c;
  return at::mm(a, b);
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

using blas::Operand;
using blas::operand;

// Everything the algorithm's choice depends on: device, operand dtype, result dtype, M, N, K, the
// operands' ops and leading dimensions, the result's, bias, beta != 0, and the alignments of b, a, c.
using Key = std::tuple<int, int, int, std::int64_t, std::int64_t, std::int64_t, int, int, std::int64_t, std::int64_t,
                       std::int64_t, bool, bool, std::uint32_t, std::uint32_t, std::uint32_t>;

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

// The descriptors of the row-major c (M, N) = a (M, K) b (K, N) (+ bias (N)) (+ beta c), in
// cuBLASLt's column-major terms: c^T (N, M) = b^T (N, K) a^T (K, M), so cuBLASLt's first operand is
// b and its second a.
struct Product {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t b = nullptr, a = nullptr, c = nullptr;

  Product(cudaDataType_t type, cudaDataType_t c_type, std::int64_t M, std::int64_t N, std::int64_t K,
          const Operand& ob, const Operand& oa, std::int64_t ldc, const void* bias) {
    check(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "descriptor");
    check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ob.op, sizeof(ob.op)), "descriptor");
    check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &oa.op, sizeof(oa.op)), "descriptor");
    if (bias != nullptr) {
      const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
      check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)),
            "descriptor");
      check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)), "descriptor");
    }
    // As stored: op(b^T) is (N, K); op N keeps it (N rows, K columns), op T stores (K, N).
    if (ob.op == CUBLAS_OP_N) {
      check(cublasLtMatrixLayoutCreate(&b, type, N, K, ob.ld), "layout");
    } else {
      check(cublasLtMatrixLayoutCreate(&b, type, K, N, ob.ld), "layout");
    }
    if (oa.op == CUBLAS_OP_N) {
      check(cublasLtMatrixLayoutCreate(&a, type, K, M, oa.ld), "layout");
    } else {
      check(cublasLtMatrixLayoutCreate(&a, type, M, K, oa.ld), "layout");
    }
    check(cublasLtMatrixLayoutCreate(&c, c_type, N, M, ldc), "layout");
  }
  ~Product() {
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (op) cublasLtMatmulDescDestroy(op);
  }
  Product(const Product&) = delete;
  Product& operator=(const Product&) = delete;
};

struct Operands {
  const void* b;
  const void* a;
  void* c;
  float beta;
};

void launch(cublasLtHandle_t lt, const Product& p, const Operands& o, const cublasLtMatmulAlgo_t& algo, void* workspace,
            std::size_t workspace_size, cudaStream_t stream) {
  const float alpha = 1.0f;
  check(cublasLtMatmul(lt, p.op, &alpha, o.b, p.b, o.a, p.a, &o.beta, o.c, p.c, o.c, p.c, &algo, workspace,
                       workspace_size, stream),
        "matmul");
}

// Times the heuristic's candidates on the operands `o` and returns the fastest, or the first where
// no other is kMargin faster. o.c receives the timed results: the real result where beta is 0 (it
// is written again after), a scratch buffer where the product adds into it.
Choice tune(cublasLtHandle_t lt, const Product& p, const Operands& o, const Operands& real, const at::Device& device,
            cudaStream_t stream, std::int64_t M, std::int64_t N, std::int64_t K) {
  cublasLtMatmulPreference_t pref = nullptr;
  check(cublasLtMatmulPreferenceCreate(&pref), "preference");
  const std::size_t max_workspace = kMaxWorkspace;
  // The real operands' alignments (a scratch result is better aligned than the one it stands for).
  const std::uint32_t ab = alignment(real.b), aa = alignment(real.a), ac = alignment(real.c);
  cublasLtMatmulHeuristicResult_t results[kCandidates];
  int found = 0;
  cublasStatus_t status =
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &max_workspace,
                                           sizeof(max_workspace));
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &ab, sizeof(ab));
  }
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &aa, sizeof(aa));
  }
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &ac, sizeof(ac));
  }
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &ac, sizeof(ac));
  }
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatmulAlgoGetHeuristic(lt, p.op, p.b, p.a, p.c, p.c, pref, kCandidates, results, &found);
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

cublasLtHandle_t lt_handle() {
#if TORCH_VERSION_MAJOR >= 2
  return at::cuda::getCurrentCUDABlasLtHandle();
#else
  static cublasLtHandle_t lt = [] {
    cublasLtHandle_t h = nullptr;
    check(cublasLtCreate(&h), "handle");
    return h;
  }();
  return lt;
#endif
}

}  // namespace

bool tuned_mm_into(const at::Tensor& c, const at::Tensor& a, const at::Tensor& b, float beta, const at::Tensor& bias) {
  if (!g_enabled || !a.defined() || !b.defined() || !c.defined() || !a.is_cuda() || !b.is_cuda() || !c.is_cuda()) {
    return false;
  }
  const at::ScalarType dtype = a.scalar_type();
  if ((dtype != at::kBFloat16 && dtype != at::kHalf) || b.scalar_type() != dtype) return false;
  if (c.scalar_type() != dtype && c.scalar_type() != at::kFloat) return false;
  if (a.device() != b.device() || a.device() != c.device() || a.dim() != 2 || b.dim() != 2 || c.dim() != 2) return false;
  const std::int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  if (b.size(0) != K || c.size(0) != M || c.size(1) != N) return false;
  if (bias.defined() && (!bias.is_cuda() || bias.device() != a.device() || bias.scalar_type() != dtype ||
                         c.scalar_type() != dtype ||
                         bias.dim() != 1 || bias.size(0) != N || !bias.is_contiguous() || beta != 0.0f)) {
    return false;
  }
  if (at::GradMode::is_enabled() &&
      (a.requires_grad() || b.requires_grad() || c.requires_grad() || (bias.defined() && bias.requires_grad()))) {
    return false;
  }
  if (M == 0 || N == 0 || K == 0 || 2.0 * static_cast<double>(M) * N * K < g_min_flops.load()) return false;
  Operand oa, ob;
  if (!operand(a, &oa) || !operand(b, &ob)) return false;
  if (c.stride(1) != 1 || (M > 1 && c.stride(0) < N)) return false;
  const std::int64_t ldc = std::max<std::int64_t>(c.stride(0), N);
  const std::int64_t limit = std::numeric_limits<std::int32_t>::max();
  if (M > limit || N > limit || K > limit || oa.ld > limit || ob.ld > limit || ldc > limit) return false;

  const c10::cuda::CUDAGuard guard(a.device());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream(a.device().index()).stream();
  const cudaDataType_t type = dtype == at::kBFloat16 ? CUDA_R_16BF : CUDA_R_16F;
  const cudaDataType_t c_type = c.scalar_type() == at::kFloat ? CUDA_R_32F : type;
  const Operands o{b.data_ptr(), a.data_ptr(), c.data_ptr(), beta};
  const Product p(type, c_type, M, N, K, ob, oa, ldc, bias.defined() ? bias.data_ptr() : nullptr);
  const Key key{a.device().index(), static_cast<int>(dtype), static_cast<int>(c.scalar_type()), M, N, K,
                static_cast<int>(ob.op), static_cast<int>(oa.op), ob.ld, oa.ld, ldc, bias.defined(), beta != 0.0f,
                alignment(o.b), alignment(o.a), alignment(o.c)};
  cublasLtHandle_t lt = lt_handle();

  Choice choice;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = g_choices.find(key);
    if (it == g_choices.end()) {
      if (g_choices.size() >= kMaxShapes) return false;
      if (g_sightings.size() >= kMaxSightings) g_sightings.clear();
      if (++g_sightings[key] < g_min_uses.load()) return false;
      g_sightings.erase(key);
      cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
      check(cudaStreamIsCapturing(stream, &capture), "stream query");
      if (capture != cudaStreamCaptureStatusNone) return false;  // timing would break the capture
      Choice tuned;
      try {
        // A product that adds into c is timed into a zeroed copy of c's shape, so c keeps its sum.
        at::Tensor scratch;
        Operands timed = o;
        if (beta != 0.0f) {
          scratch = at::zeros({M, ldc}, c.options());
          timed.c = scratch.data_ptr();
        }
        tuned = tune(lt, p, timed, o, a.device(), stream, M, N, K);
      } catch (const Error& e) {
        // No algorithm, or one that failed while being timed: this shape stays with ATen.
        log::warn("products: {} x {} x {} stays with ATen ({})", M, N, K, e.what());
        tuned.usable = false;
      }
      it = g_choices.emplace(key, tuned).first;
    }
    choice = it->second;
  }
  if (!choice.usable) return false;
  at::Tensor workspace;
  if (choice.workspace > 0) {
    workspace = at::empty({static_cast<std::int64_t>(choice.workspace)}, a.options().dtype(at::kByte));
  }
  launch(lt, p, o, choice.algo, workspace.defined() ? workspace.data_ptr() : nullptr, choice.workspace, stream);
  ++g_products;
  return true;
}

at::Tensor tuned_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (!g_enabled || !x.defined() || !weight.defined() || !x.is_cuda() || !weight.is_cuda()) return {};
  const at::ScalarType dtype = x.scalar_type();
  if ((dtype != at::kBFloat16 && dtype != at::kHalf) || weight.scalar_type() != dtype) return {};
  if (x.device() != weight.device() || x.dim() < 2 || weight.dim() != 2 || x.size(-1) != weight.size(1)) return {};
  if (bias.defined() && bias.scalar_type() != dtype) return {};
  const AutocastState autocast = autocast_state(c10::DeviceType::CUDA);
  if (autocast.enabled && autocast.dtype != dtype) return {};
  if (!x.is_contiguous() || weight.stride(1) != 1) return {};
  const std::int64_t K = weight.size(1), N = weight.size(0), M = x.numel() / std::max<std::int64_t>(K, 1);
  std::vector<std::int64_t> sizes = x.sizes().vec();
  sizes.back() = N;
  at::Tensor y = at::empty(sizes, x.options());
  if (M == 0 || !tuned_mm_into(y.view({M, N}), x.view({M, K}), weight.t(), 0.0f, bias)) return {};
  return y;
}

at::Tensor tuned_mm(const at::Tensor& a, const at::Tensor& b) {
  if (!g_enabled || !a.defined() || !b.defined() || !a.is_cuda() || a.dim() != 2 || b.dim() != 2) return {};
  at::Tensor c = at::empty({a.size(0), b.size(1)}, a.options());
  if (!tuned_mm_into(c, a, b, 0.0f, {})) return {};
  return c;
}

#else

at::Tensor tuned_linear(const at::Tensor&, const at::Tensor&, const at::Tensor&) { return {}; }
bool tuned_mm_into(const at::Tensor&, const at::Tensor&, const at::Tensor&, float, const at::Tensor&) { return false; }
at::Tensor tuned_mm(const at::Tensor&, const at::Tensor&) { return {}; }

#endif

}  // namespace distill
