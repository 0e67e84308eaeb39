// teacher.offload_layers: which decoder layers stream from host memory when only some do. The
// streaming itself needs a GPU (tests/gpu/test_layer_streaming_cuda.cpp).
#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "distill/models/layer_streaming.h"

namespace distill::models {
namespace {

TEST(StreamedLayerIds, AllLayersWhenCountIsZeroOrTheWholeStack) {
  const std::vector<std::int64_t> all = {0, 1, 2, 3, 4};
  EXPECT_EQ(streamed_layer_ids(5, 0), all);
  EXPECT_EQ(streamed_layer_ids(5, 5), all);
  EXPECT_EQ(streamed_layer_ids(1, 1), std::vector<std::int64_t>{0});
}

// LLaMA-2-7B's 32 layers, 10 streamed: the middle of each stretch of 3.2 layers (1.6, 4.8, 8.0, ...).
TEST(StreamedLayerIds, MiddleOfEachEqualStretch) {
  EXPECT_EQ(streamed_layer_ids(32, 10), (std::vector<std::int64_t>{1, 4, 8, 11, 14, 17, 20, 24, 27, 30}));
  EXPECT_EQ(streamed_layer_ids(28, 2), (std::vector<std::int64_t>{7, 21}));
  EXPECT_EQ(streamed_layer_ids(28, 1), std::vector<std::int64_t>{14});
}

// For every stack up to 40 layers and every count: `count` ascending, distinct ids, each a layer
// that overlaps its own stretch [o L / count, (o + 1) L / count) of the stack.
TEST(StreamedLayerIds, EveryCountGivesOneLayerPerStretch) {
  for (std::int64_t layers = 1; layers <= 40; ++layers) {
    for (std::int64_t count = 1; count <= layers; ++count) {
      const auto ids = streamed_layer_ids(layers, count);
      ASSERT_EQ(static_cast<std::int64_t>(ids.size()), count) << layers << " " << count;
      for (std::int64_t o = 0; o < count; ++o) {
        const std::int64_t id = ids[static_cast<size_t>(o)];
        EXPECT_GE(id, o * layers / count) << layers << " " << count << " " << o;
        EXPECT_LT(id * count, (o + 1) * layers) << layers << " " << count << " " << o;
        if (o > 0) EXPECT_GT(id, ids[static_cast<size_t>(o - 1)]);
      }
    }
  }
}

TEST(StreamedLayerIds, CountOutsideTheStackIsRejected) {
  EXPECT_THROW(streamed_layer_ids(5, 6), std::invalid_argument);
  EXPECT_THROW(streamed_layer_ids(5, -1), std::invalid_argument);
  EXPECT_THROW(streamed_layer_ids(0, 0), std::invalid_argument);
}

}  // namespace
}  // namespace distill::models
