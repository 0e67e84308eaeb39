// GPU machine only (label "gpu"): CUDA generator states survive capture/restore and a checkpoint,
// and a checkpoint's tensors saved from the GPU read back equal.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include "distill/checkpoint/rng_state.h"
#include "distill/checkpoint/run_dir.h"
#include "test_support.h"

namespace distill {
namespace {

std::vector<at::Tensor> cuda_draws() {
  const auto opts = at::TensorOptions().device(at::kCUDA, 0);
  return {at::rand({1000}, opts), at::randn({999}, opts), at::bernoulli(at::full({64}, 0.5, opts))};
}

TEST(RngCuda, RestoreRepeatsTheSameCudaNumbers) {
  ASSERT_TRUE(torch::cuda::is_available());
  at::manual_seed(11);
  cuda_draws();
  const checkpoint::RngStates saved = checkpoint::capture_rng_states();
  ASSERT_EQ(saved.cuda.size(), static_cast<std::size_t>(torch::cuda::device_count()));
  const auto first = cuda_draws();
  EXPECT_FALSE(cuda_draws()[0].equal(first[0]));
  checkpoint::restore_rng_states(
      checkpoint::rng_states_from_json(checkpoint::rng_states_to_json(saved), "test"), "test");
  const auto again = cuda_draws();
  for (std::size_t i = 0; i < first.size(); ++i) EXPECT_TRUE(again[i].equal(first[i])) << "draw " << i;
}

TEST(RngCuda, CheckpointOfGpuTensorsRoundTrips) {
  ASSERT_TRUE(torch::cuda::is_available());
  testing::TempDir dir;
  const auto opts = at::TensorOptions().device(at::kCUDA, 0);
  checkpoint::CheckpointData data;
  data.model = {{"w", at::randn({256, 64}, opts.dtype(at::kBFloat16))}};
  data.optimizer = {{"exp_avg.w", at::randn({256, 64}, opts)}};
  data.state.step = 3;
  data.state.rng = checkpoint::capture_rng_states();
  std::vector<at::Tensor> after_save;
  {
    checkpoint::RunDir run(dir.path());
    run.resume(checkpoint::ResumeMode::kAuto);
    run.save_checkpoint(data, 1);
    after_save = cuda_draws();
  }
  at::manual_seed(5);
  checkpoint::RunDir run(dir.path());
  const auto loaded = run.resume(checkpoint::ResumeMode::kAlways);
  ASSERT_TRUE(loaded);
  EXPECT_TRUE(loaded->model[0].second.equal(data.model[0].second.cpu()));
  EXPECT_TRUE(loaded->optimizer[0].second.equal(data.optimizer[0].second.cpu()));
  checkpoint::restore_rng_states(loaded->state.rng, loaded->dir);
  const auto again = cuda_draws();
  for (std::size_t i = 0; i < again.size(); ++i) EXPECT_TRUE(again[i].equal(after_save[i])) << "draw " << i;
}

}  // namespace
}  // namespace distill
