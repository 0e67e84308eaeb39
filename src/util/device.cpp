// "auto" / "cpu" / "cuda[:N]" -> a device that exists, or a clear usage error.
#include "distill/util/device.h"

#include <torch/cuda.h>

#include "distill/util/errors.h"

namespace distill {

c10::Device resolve_device(const std::string& name, const std::string& what) {
  const int cuda_devices = static_cast<int>(torch::cuda::device_count());
  if (name == "auto") return cuda_devices > 0 ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (name.size() > 5) {
      try {
        size_t used = 0;
        index = std::stoi(name.substr(5), &used);
        if (used != name.size() - 5 || index < 0) throw std::invalid_argument(name);
      } catch (const std::exception&) {
        throw UsageError(what + ": bad device '" + name + "'", "use auto, cpu, cuda or cuda:N");
      }
    }
    if (cuda_devices == 0) {
      throw UsageError(what + ": '" + name + "' requested but no CUDA device is visible to this build of distill",
                       "use --device cpu, or build against a CUDA LibTorch (see README.md)");
    }
    if (index >= cuda_devices) {
      throw UsageError(what + ": '" + name + "' requested but only " + std::to_string(cuda_devices) +
                       " CUDA device(s) are visible");
    }
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw UsageError(what + ": unknown device '" + name + "'", "use auto, cpu, cuda or cuda:N");
}

}  // namespace distill
