// GPU machine only (label "gpu"): loading weights onto the GPU keeps one copy of them in host memory
// at most (the file's pages, mapped), never a second one.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <string>

#include "distill/models/init.h"
#include "distill/models/loader.h"
#include "distill/models/registry.h"
#include "distill/util/files.h"
#include "test_support.h"

namespace distill {
namespace {

// Peak resident set size (VmHWM) in bytes.
std::int64_t peak_rss() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return -1;
}

TEST(LoadMemory, Bf16WeightsReachTheGpuWithoutASecondHostCopy) {
  ASSERT_TRUE(torch::cuda::is_available());
  testing::TempDir dir;
  std::int64_t file_bytes = 0;
  {
    // A Qwen2.5-0.5B-shaped model in bf16: about 1 GB of weights.
    models::ModelSpec spec = models::read_spec(std::string(DISTILL_SOURCE_DIR) + "/bench/configs/qwen2.5-0.5b");
    models::CausalLM model(spec, at::TensorOptions().dtype(at::kBFloat16));
    models::init_random(*model, 7);
    models::save_model(*model, dir.path());
    for (const auto& p : model->parameters()) file_bytes += p.numel() * 2;
  }
  torch::ones({1}, at::Device(at::kCUDA, 0)).sum().item<float>();  // CUDA context first: not part of loading
  // Reset the peak (Linux: writing 5 to clear_refs resets VmHWM to the current RSS).
  { std::ofstream("/proc/self/clear_refs") << "5"; }
  const std::int64_t before = peak_rss();
  models::CausalLM model = models::load_model(dir.path(), {at::kBFloat16, at::Device(at::kCUDA, 0), false});
  torch::cuda::synchronize();
  const std::int64_t growth = peak_rss() - before;
  RecordProperty("file_bytes", std::to_string(file_bytes));
  RecordProperty("peak_rss_growth_bytes", std::to_string(growth));
  std::cout << "weights " << file_bytes / (1 << 20) << " MiB, peak RSS growth while loading "
            << growth / (1 << 20) << " MiB\n";
  EXPECT_LT(growth, file_bytes * 13 / 10) << "loading held more than one host copy of the weights";
}

}  // namespace
}  // namespace distill
