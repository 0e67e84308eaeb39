// prepare_data, the trainer's entry point: raw inputs tokenized into the cache once, tokenized
// folders used as they are, the validation split, the length limit from the model's context.
#include <gtest/gtest.h>

#include "data_test_helpers.h"
#include "distill/data/shards.h"

namespace distill::data {
namespace {

using namespace test;
using testing::TempDir;

std::string lines(int from, int to) {
  std::string s;
  for (int i = from; i < to; ++i) s += "document " + std::to_string(i) + "\n";
  return s;
}

config::DataConfig data_config(const std::vector<std::string>& train) {
  config::DataConfig d;
  d.train = train;
  return d;
}

TEST(DataPrepare, RawInputsAreTokenizedIntoTheCacheOnce) {
  TempDir dir;
  testing::write_file(dir.file("train.txt"), lines(0, 10));
  testing::write_file(dir.file("valid.txt"), lines(100, 103));
  auto data = data_config({dir.file("train.txt")});
  data.valid = {dir.file("valid.txt")};
  const PreparedData first = prepare_data(data, gpt2(), dir.file("cache"), 0);
  ASSERT_EQ(first.builds.size(), 2u);
  EXPECT_TRUE(first.builds[0].rebuilt);
  EXPECT_EQ(files::parent(first.builds[0].dir), dir.file("cache"));
  EXPECT_EQ(files::filename(first.builds[0].dir).rfind("train-", 0), 0u);
  EXPECT_EQ(files::filename(first.builds[1].dir).rfind("valid-", 0), 0u);
  EXPECT_EQ(first.train.num_documents(), 10);
  ASSERT_TRUE(first.valid);
  EXPECT_EQ(first.valid->num_documents(), 3);
  EXPECT_EQ(first.valid->text(0), "document 100");
  const PreparedData second = prepare_data(data, gpt2(), dir.file("cache"), 0);
  EXPECT_FALSE(second.builds[0].rebuilt);
  EXPECT_FALSE(second.builds[1].rebuilt);
  EXPECT_EQ(second.train.identity(), first.train.identity());
  // A different seq_len or seed does not change the tokens: same cache folder, no rebuild.
  data.seq_len = 16;
  data.seed = 99;
  EXPECT_FALSE(prepare_data(data, gpt2(), dir.file("cache"), 0).builds[0].rebuilt);
}

TEST(DataPrepare, ValidFractionHoldsOutTheLastDocuments) {
  TempDir dir;
  testing::write_file(dir.file("train.txt"), lines(0, 10));
  auto data = data_config({dir.file("train.txt")});
  data.valid_fraction = 0.2;
  const PreparedData p = prepare_data(data, gpt2(), dir.file("cache"), 0);
  EXPECT_EQ(p.train.num_documents(), 8);
  ASSERT_TRUE(p.valid);
  EXPECT_EQ(p.valid->num_documents(), 2);
  EXPECT_EQ(p.valid->text(0), "document 8");
  EXPECT_EQ(p.valid->text(1), "document 9");
  EXPECT_EQ(p.train.text(7), "document 7");
  EXPECT_FALSE(prepare_data(data_config({dir.file("train.txt")}), gpt2(), dir.file("cache"), 0).valid);
}

TEST(DataPrepare, ValidationSplitKeepsPiecesWithTheirDocument) {
  TempDir dir;
  // The last document is split into 3 pieces by the limit; 20% of 12 documents would cut it after
  // its first piece: the boundary moves back so that the held-out part starts with that piece.
  testing::write_file(dir.file("train.txt"), lines(0, 9) + "one two three four five six seven eight nine ten\n");
  auto data = data_config({dir.file("train.txt")});
  data.valid_fraction = 0.2;
  data.max_length_ratio = 0.5;
  const PreparedData p = prepare_data(data, gpt2(), dir.file("cache"), 8);  // limit 4: the last line is 3 pieces
  EXPECT_EQ(p.train.num_documents(), 9);
  ASSERT_EQ(p.valid->num_documents(), 3);
  const auto [ds, local] = p.valid->locate(0);
  EXPECT_EQ(ds->flags(local) & kFlagContinuation, 0);
  EXPECT_EQ(p.valid->text(0), "one two three four");
  EXPECT_EQ(p.train.text(8), "document 8");
}

TEST(DataPrepare, LengthLimitComesFromTheContext) {
  TempDir dir;
  testing::write_file(dir.file("train.txt"), "one two three four five six seven eight nine ten eleven\n");
  const PreparedData p = prepare_data(data_config({dir.file("train.txt")}), gpt2(), dir.file("cache"), 10);
  EXPECT_EQ(p.builds[0].meta["options"]["max_tokens"], 8);  // 0.8 * 10
  EXPECT_EQ(p.train.length(0), 8);
  EXPECT_EQ(p.train.num_documents(), 2);
}

TEST(DataPrepare, TokenizedFoldersAreUsedAsTheyAre) {
  TempDir dir;
  testing::write_file(dir.file("a.txt"), lines(0, 3));
  build_dataset(gpt2(), options({dir.file("a.txt")}, dir.file("tokenized")));
  testing::write_file(dir.file("b.txt"), lines(3, 5));
  const PreparedData p = prepare_data(data_config({dir.file("b.txt"), dir.file("tokenized")}), gpt2(), dir.file("cache"), 0);
  ASSERT_EQ(p.train.num_documents(), 5);
  EXPECT_EQ(p.train.text(0), "document 3");  // raw inputs first, then the folders
  EXPECT_EQ(p.train.text(2), "document 0");
  // A folder made with another tokenizer is refused.
  EXPECT_CONTAINS(error_of<InputError>([&] {
                    prepare_data(data_config({dir.file("tokenized")}), testing::shared_tokenizer("qwen3"),
                                 dir.file("cache"), 0);
                  }),
                  "was tokenized with another tokenizer");
}

TEST(DataPrepare, ConfigHelpers) {
  config::Config c;
  c.checkpoint.dir = "/runs/x";
  EXPECT_EQ(cache_root(c), "/runs/x/data");
  c.data.cache_dir = "/cache";
  EXPECT_EQ(cache_root(c), "/cache");
  c.teacher.emplace();
  c.teacher->path = testing::data_path("models/gpt2");
  EXPECT_EQ(model_context(c), 128);  // n_positions
  c.data.seq_len = 64;
  c.train.micro_batch = 3;
  c.data.packing = false;
  const LoaderOptions train = loader_options(c, true), valid = loader_options(c, false);
  EXPECT_EQ(train.seq_len, 64);
  EXPECT_EQ(train.micro_batch, 3);
  EXPECT_FALSE(train.packing);
  EXPECT_TRUE(train.shuffle && train.repeat);
  EXPECT_FALSE(valid.shuffle || valid.repeat);
}

}  // namespace
}  // namespace distill::data
