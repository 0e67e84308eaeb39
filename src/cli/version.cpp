// `distill --version`: our version, the LibTorch we run on, and the CUDA devices it can see.
#include <torch/cuda.h>
#include <torch/version.h>

#include <sstream>

#include "distill/cli/commands.h"

#ifdef DISTILL_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace distill::cli {

std::string version_text() {
  std::ostringstream out;
  out << "distill " << DISTILL_VERSION << "\n";
  out << "LibTorch " << TORCH_VERSION;
#ifdef DISTILL_WITH_CUDA
  out << " (built with CUDA)";
#else
  out << " (CPU only)";
#endif
  out << "\n";
  const auto n = static_cast<int>(torch::cuda::device_count());
  out << "CUDA devices: " << n << "\n";
#ifdef DISTILL_WITH_CUDA
  for (int i = 0; i < n; ++i) {
    const auto* p = at::cuda::getDeviceProperties(i);
    out << "  cuda:" << i << " " << p->name << ", " << (p->totalGlobalMem >> 20) << " MiB, compute capability "
        << p->major << "." << p->minor << "\n";
  }
#endif
  return out.str();
}

}  // namespace distill::cli
