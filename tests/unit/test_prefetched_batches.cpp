// PrefetchedBatches (train/prefetched_batches.h): the inner source's batches in its order, drawn
// ahead on a thread, with the inner source's positions as if nothing were drawn ahead; seek, the
// end of a finite source, rewind, and errors in order.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "distill/train/prefetched_batches.h"
#include "train_fixtures.h"

namespace distill {
namespace {

using Json = nlohmann::ordered_json;
using testing::MemorySource;

// Counts the batches drawn (from any thread), and fails at draw `fail_at` (0: never).
class Counted : public train::BatchSource {
 public:
  Counted(std::unique_ptr<MemorySource> inner, int fail_at = 0) : inner_(std::move(inner)), fail_at_(fail_at) {}
  std::optional<train::Batch> next() override {
    if (++drawn_ == fail_at_) throw std::runtime_error("bad batch " + std::to_string(fail_at_));
    return inner_->next();
  }
  Json position() const override { return inner_->position(); }
  void seek(const Json& p) override { inner_->seek(p); }
  void rewind() override { inner_->rewind(); }
  int drawn() const { return drawn_.load(); }

 private:
  std::unique_ptr<MemorySource> inner_;
  int fail_at_;
  std::atomic<int> drawn_{0};
};

std::unique_ptr<MemorySource> source(bool finite = false) { return std::make_unique<MemorySource>(5, 2, 8, 3, finite); }

TEST(PrefetchedBatches, GivesTheInnerBatchesAndPositionsInOrder) {
  MemorySource plain(5, 2, 8, 3);
  train::PrefetchedBatches ahead(source(), 2);
  EXPECT_EQ(ahead.position(), plain.position());
  for (int i = 0; i < 12; ++i) {  // past the end of the 5 batches: a repeating source wraps
    const auto a = ahead.next();
    const auto b = plain.next();
    ASSERT_TRUE(a && b);
    EXPECT_TRUE(at::equal(a->input_ids, b->input_ids)) << i;
    EXPECT_TRUE(at::equal(a->labels, b->labels)) << i;
    EXPECT_EQ(ahead.position(), plain.position()) << "after batch " << i;
  }
}

TEST(PrefetchedBatches, DrawsAheadButNoFurtherThanItsDepth) {
  auto counted = std::make_unique<Counted>(source());
  Counted* inner = counted.get();
  train::PrefetchedBatches ahead(std::move(counted), 3);
  EXPECT_EQ(inner->drawn(), 0) << "nothing is drawn before the first next()";
  ASSERT_TRUE(ahead.next());
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (inner->drawn() < 4 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(inner->drawn(), 4) << "the one returned and 3 ahead";
  EXPECT_EQ(ahead.position(), (Json{{"index", 1}})) << "the position is after the batch returned, not the ones ahead";
}

TEST(PrefetchedBatches, SeekContinuesWhereThePositionWasTaken) {
  train::PrefetchedBatches ahead(source(), 2);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(ahead.next());
  const Json at3 = ahead.position();
  const auto fourth = ahead.next();
  ASSERT_TRUE(ahead.next());
  ahead.seek(at3);
  EXPECT_EQ(ahead.position(), at3);
  const auto again = ahead.next();
  ASSERT_TRUE(fourth && again);
  EXPECT_TRUE(at::equal(fourth->input_ids, again->input_ids));
}

TEST(PrefetchedBatches, AFiniteSourceEndsAndRewinds) {
  train::PrefetchedBatches ahead(source(/*finite=*/true), 2);
  std::vector<at::Tensor> first;
  for (int i = 0; i < 5; ++i) {
    const auto b = ahead.next();
    ASSERT_TRUE(b) << i;
    first.push_back(b->input_ids);
  }
  EXPECT_FALSE(ahead.next());
  EXPECT_FALSE(ahead.next()) << "still at the end";
  ahead.rewind();
  for (int i = 0; i < 5; ++i) {
    const auto b = ahead.next();
    ASSERT_TRUE(b) << i;
    EXPECT_TRUE(at::equal(b->input_ids, first[static_cast<size_t>(i)])) << i;
  }
  EXPECT_FALSE(ahead.next());
}

TEST(PrefetchedBatches, AnErrorComesAfterTheBatchesBeforeIt) {
  train::PrefetchedBatches ahead(std::make_unique<Counted>(source(), /*fail_at=*/3), 2);
  ASSERT_TRUE(ahead.next());
  ASSERT_TRUE(ahead.next());
  try {
    ahead.next();
    FAIL() << "expected the inner source's error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "bad batch 3");
  }
  EXPECT_EQ(ahead.position(), (Json{{"index", 2}}));
  // After the error a seek starts over cleanly.
  ahead.seek(Json{{"index", 0}});
  EXPECT_TRUE(ahead.next());
}

}  // namespace
}  // namespace distill
