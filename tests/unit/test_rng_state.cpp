// RNG states: capture/restore repeats LibTorch's random numbers, also through a saved checkpoint.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "checkpoint_test_helpers.h"
#include "distill/checkpoint/rng_state.h"
#include "distill/util/errors.h"

namespace distill::testing {
namespace {

using checkpoint::ResumeMode;
using checkpoint::RunDir;

// Uniform, normal (odd count: the generator caches the second Box-Muller value) and integer draws.
std::vector<at::Tensor> draws() { return {at::rand({7}), at::randn({5}), at::randint(0, 1000, {9}), at::randn({1})}; }

void expect_same(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i].equal(b[i])) << "draw " << i;
}

TEST(RngState, RestoreRepeatsTheSameNumbers) {
  at::manual_seed(123);
  at::randn({3});  // leaves a cached normal sample in the generator
  const checkpoint::RngStates saved = checkpoint::capture_rng_states();
  EXPECT_FALSE(saved.cpu.empty());
  const auto first = draws();
  const auto other = draws();
  EXPECT_FALSE(first[0].equal(other[0]));  // the generator did move on
  checkpoint::restore_rng_states(saved, "test");
  expect_same(draws(), first);
}

TEST(RngState, JsonRoundTripAndBadStatesAreInputErrors) {
  const checkpoint::RngStates saved = checkpoint::capture_rng_states();
  const auto back = checkpoint::rng_states_from_json(checkpoint::rng_states_to_json(saved), "s.json");
  EXPECT_EQ(back.cpu, saved.cpu);
  EXPECT_EQ(back.cuda, saved.cuda);
  EXPECT_THROW(checkpoint::rng_states_from_json(checkpoint::Json{{"cpu", "%%%"}}, "s.json"), InputError);
  EXPECT_THROW(checkpoint::rng_states_from_json(checkpoint::Json::array(), "s.json"), InputError);
  try {
    checkpoint::restore_rng_states(checkpoint::RngStates{saved.cpu.substr(1), {}}, "s.json");
    ADD_FAILURE() << "restored a state of the wrong size";
  } catch (const InputError& e) {
    EXPECT_EQ(e.path(), "s.json");
  }
}

// The trainer's view: save with the current RNG state, keep drawing, resume later, restore: the
// resumed run draws what the uninterrupted one drew after the save.
// With `explicit_capture` false the trainer leaves the states empty and the save captures them.
void check_checkpoint_round_trip(bool explicit_capture) {
  TempDir dir;
  at::manual_seed(7);
  draws();
  std::vector<at::Tensor> after_save;
  {
    RunDir run(dir.path());
    run.resume(ResumeMode::kAuto);
    checkpoint::CheckpointData data = data_for_step(1);
    data.state.rng = explicit_capture ? checkpoint::capture_rng_states() : checkpoint::RngStates{};
    run.save_checkpoint(data, 1);
    after_save = draws();
  }
  at::manual_seed(99);  // a new process would start from some other state
  RunDir run(dir.path());
  const auto loaded = run.resume(ResumeMode::kAuto);
  ASSERT_TRUE(loaded);
  checkpoint::restore_rng_states(loaded->state.rng, loaded->dir);
  expect_same(draws(), after_save);
}

TEST(RngState, SurvivesACheckpointRoundTrip) { check_checkpoint_round_trip(true); }
TEST(RngState, EmptyStatesAreCapturedWhenSaving) { check_checkpoint_round_trip(false); }

}  // namespace
}  // namespace distill::testing
