// Checkpoints: single file or sharded with model.safetensors.index.json; writing, reading, bad indexes.
#include <gtest/gtest.h>

#include <ATen/ops/arange.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "distill/io/safetensors.h"
#include "distill/util/errors.h"
#include "safetensors_bytes.h"
#include "test_support.h"

namespace distill::testing {
namespace {

namespace fs = std::filesystem;

// n float tensors of 16 elements (64 bytes each) with distinct values.
io::NamedTensors five_tensors() {
  io::NamedTensors out;
  for (int i = 0; i < 5; ++i) {
    out.emplace_back("layer." + std::to_string(i) + ".weight", at::arange(16 * i, 16 * (i + 1)).to(at::kFloat));
  }
  return out;
}

void expect_equal(const at::Tensor& a, const at::Tensor& b) {
  ASSERT_EQ(a.sizes(), b.sizes());
  EXPECT_TRUE(a.equal(b));
}

std::string message_of(const std::string& path) {
  try {
    io::Checkpoint::open(path);
  } catch (const InputError& e) {
    EXPECT_EQ(static_cast<int>(e.code()), 3);
    return e.what();
  } catch (const std::exception& e) {
    return std::string("wrong exception type: ") + e.what();
  }
  return "no error";
}

TEST(SafetensorsCheckpoint, SingleFile) {
  TempDir dir;
  const auto tensors = five_tensors();
  const auto written = io::save_checkpoint(dir.path(), tensors, {0, {{"step", "7"}}});
  EXPECT_EQ(written, std::vector<std::string>{"model.safetensors"});
  for (const std::string& path : {dir.path(), dir.file("model.safetensors")}) {
    const auto ckpt = io::Checkpoint::open(path);
    ASSERT_EQ(ckpt.names().size(), 5u);
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      EXPECT_EQ(ckpt.names()[i], tensors[i].first);
      expect_equal(ckpt.tensor(tensors[i].first), tensors[i].second);
    }
    EXPECT_EQ(ckpt.metadata().at("step"), "7");
    EXPECT_EQ(ckpt.metadata().at("format"), "pt");  // transformers requires it
  }
}

TEST(SafetensorsCheckpoint, ShardedWriteAndRead) {
  TempDir dir;
  const auto tensors = five_tensors();
  // 64-byte tensors, at most 130 bytes a shard: {0, 1}, {2, 3}, {4}.
  const auto written = io::save_checkpoint(dir.path(), tensors, {130, {{"step", "7"}}});
  const std::vector<std::string> expected = {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                                             "model-00003-of-00003.safetensors", "model.safetensors.index.json"};
  EXPECT_EQ(written, expected);
  EXPECT_FALSE(fs::exists(dir.file("model.safetensors")));

  const auto index = nlohmann::json::parse(read_file(dir.file("model.safetensors.index.json")));
  EXPECT_EQ(index["metadata"]["total_size"], 320);
  EXPECT_EQ(index["weight_map"]["layer.0.weight"], "model-00001-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["layer.3.weight"], "model-00002-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["layer.4.weight"], "model-00003-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"].size(), 5u);

  for (const std::string& path : {dir.path(), dir.file("model.safetensors.index.json")}) {
    const auto ckpt = io::Checkpoint::open(path);
    EXPECT_EQ(ckpt.files().size(), 3u);
    ASSERT_EQ(ckpt.names().size(), 5u);
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      EXPECT_EQ(ckpt.names()[i], tensors[i].first);
      expect_equal(ckpt.tensor(tensors[i].first), tensors[i].second);
    }
    EXPECT_EQ(fs::path(ckpt.file_of("layer.2.weight")).filename(), "model-00002-of-00003.safetensors");
    EXPECT_EQ(ckpt.info("layer.4.weight").nbytes(), 64u);
    EXPECT_EQ(ckpt.metadata().at("total_size"), "320");
    EXPECT_EQ(ckpt.metadata().at("step"), "7");
    EXPECT_THROW(ckpt.info("absent"), InputError);
  }
  // Each shard is a valid file on its own, with the transformers "format" metadata.
  EXPECT_EQ(io::SafetensorsFile::open(dir.file(expected[0]))->metadata().at("format"), "pt");
}

TEST(SafetensorsCheckpoint, TensorLargerThanTheLimitGetsItsOwnShard) {
  TempDir dir;
  const auto written = io::save_checkpoint(dir.path(), five_tensors(), {10, {}});
  ASSERT_EQ(written.size(), 6u);
  EXPECT_EQ(written[4], "model-00005-of-00005.safetensors");
  EXPECT_EQ(io::Checkpoint::open(dir.path()).files().size(), 5u);
}

TEST(SafetensorsCheckpoint, ResavingRemovesTheOtherLayoutsFiles) {
  TempDir dir;
  write_file(dir.file("config.json"), "{}");
  io::save_checkpoint(dir.path(), five_tensors(), {130, {}});
  io::save_checkpoint(dir.path(), five_tensors(), {});
  EXPECT_TRUE(fs::exists(dir.file("model.safetensors")));
  EXPECT_FALSE(fs::exists(dir.file("model.safetensors.index.json")));
  EXPECT_FALSE(fs::exists(dir.file("model-00001-of-00003.safetensors")));
  io::save_checkpoint(dir.path(), five_tensors(), {200, {}});  // two shards now
  EXPECT_FALSE(fs::exists(dir.file("model.safetensors")));
  EXPECT_TRUE(fs::exists(dir.file("model-00002-of-00002.safetensors")));
  EXPECT_TRUE(fs::exists(dir.file("config.json")));
  EXPECT_EQ(io::Checkpoint::open(dir.path()).names().size(), 5u);
}

// ---- bad indexes, built by hand

const std::string kShardA = safetensors_bytes(R"({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}})", "\x01\x02");
const std::string kShardB = safetensors_bytes(R"({"b": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}})", "\x03");

TEST(SafetensorsCheckpoint, HandWrittenIndexReads) {
  TempDir dir;
  write_file(dir.file("s1.safetensors"), kShardA);
  write_file(dir.file("s2.safetensors"), kShardB);
  write_file(dir.file("model.safetensors.index.json"),
             R"({"metadata": {"total_size": 3}, "weight_map": {"b": "s2.safetensors", "a": "s1.safetensors"}})");
  const auto ckpt = io::Checkpoint::open(dir.path());
  EXPECT_EQ(ckpt.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ckpt.tensor("b")[0].item<std::uint8_t>(), 3);
}

TEST(SafetensorsCheckpoint, MissingShardIsInputError) {
  TempDir dir;
  write_file(dir.file("s1.safetensors"), kShardA);
  write_file(dir.file("model.safetensors.index.json"), R"({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}})");
  const std::string m = message_of(dir.path());
  EXPECT_NE(m.find("model.safetensors.index.json: weight_map lists shard \"s2.safetensors\""), std::string::npos) << m;
  EXPECT_NE(m.find("does not exist"), std::string::npos) << m;
}

TEST(SafetensorsCheckpoint, WeightMapNamingATensorAbsentFromItsShard) {
  TempDir dir;
  write_file(dir.file("s1.safetensors"), kShardA);
  write_file(dir.file("model.safetensors.index.json"), R"({"weight_map": {"a": "s1.safetensors", "z": "s1.safetensors"}})");
  const std::string m = message_of(dir.path());
  EXPECT_NE(m.find("weight_map puts tensor \"z\" in \"s1.safetensors\", which has no such tensor"), std::string::npos) << m;
}

TEST(SafetensorsCheckpoint, ShardHoldingATensorTheIndexDoesNotList) {
  TempDir dir;
  write_file(dir.file("s1.safetensors"), kShardA);
  write_file(dir.file("s2.safetensors"), kShardB);
  write_file(dir.file("model.safetensors.index.json"), R"({"weight_map": {"a": "s1.safetensors", "x": "s2.safetensors"}})");
  const std::string m = message_of(dir.path());
  EXPECT_NE(m.find("shard \"s2.safetensors\" holds tensor \"b\", which weight_map does not list"), std::string::npos) << m;
}

TEST(SafetensorsCheckpoint, MalformedIndexJson) {
  TempDir dir;
  write_file(dir.file("model.safetensors.index.json"), R"({"weight_map": {"a": )");
  const std::string m = message_of(dir.path());
  EXPECT_NE(m.find("model.safetensors.index.json: invalid JSON"), std::string::npos) << m;
}

TEST(SafetensorsCheckpoint, IndexWithoutWeightMapOrWithBadEntries) {
  TempDir dir;
  const std::string index = dir.file("m.safetensors.index.json");
  write_file(index, R"({"metadata": {}})");
  EXPECT_NE(message_of(index).find("no \"weight_map\" object"), std::string::npos) << message_of(index);
  write_file(index, R"({"weight_map": {"a": 3}})");
  EXPECT_NE(message_of(index).find("weight_map entry \"a\" is a number"), std::string::npos) << message_of(index);
  write_file(index, R"({"weight_map": {"a": "../elsewhere.safetensors"}})");
  EXPECT_NE(message_of(index).find("relative paths inside the index's folder"), std::string::npos) << message_of(index);
  write_file(index, R"([1])");
  EXPECT_NE(message_of(index).find("expected an object"), std::string::npos) << message_of(index);
}

TEST(SafetensorsCheckpoint, BadShardErrorNamesTheShard) {
  TempDir dir;
  write_file(dir.file("s1.safetensors"), hostile_case("TruncatedData").bytes);
  write_file(dir.file("model.safetensors.index.json"), R"({"weight_map": {"w": "s1.safetensors"}})");
  const std::string m = message_of(dir.path());
  EXPECT_NE(m.find(dir.file("s1.safetensors") + ": tensor 'w'"), std::string::npos) << m;
}

TEST(SafetensorsCheckpoint, DirectoryWithoutWeights) {
  TempDir dir;
  const std::string m = message_of(dir.path());
  EXPECT_NE(m.find("holds neither model.safetensors nor model.safetensors.index.json"), std::string::npos) << m;
}

}  // namespace
}  // namespace distill::testing
