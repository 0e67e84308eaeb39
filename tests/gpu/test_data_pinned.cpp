// GPU machine only (label "gpu"): with pin_memory, loader batches are page-locked and copy to the GPU
// asynchronously unchanged; without it they are plain CPU tensors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <nlohmann/json.hpp>

#include "distill/data/loader.h"
#include "distill/data/tokenize.h"
#include "test_support.h"

namespace distill {
namespace {

TEST(DataPinnedCuda, PinnedBatchesCopyToTheGpu) {
  ASSERT_TRUE(torch::cuda::is_available());
  testing::TempDir dir;
  // A four-token GPT-2-style vocabulary: enough for pretokenized documents.
  testing::write_file(dir.file("vocab.json"), R"({"a": 0, "b": 1, "ab": 2, "<|endoftext|>": 3})");
  testing::write_file(dir.file("merges.txt"), "#version: 0.2\na b\n");
  std::string lines;
  for (int d = 0; d < 20; ++d) lines += "{\"input_ids\": [0, 1, 2, " + std::to_string(d % 3) + "]}\n";
  testing::write_file(dir.file("in.jsonl"), lines);
  const auto tok = tokenizer::load_tokenizer(dir.path());
  data::BuildOptions b;
  b.inputs = {dir.file("in.jsonl")};
  b.output_dir = dir.file("out");
  data::build_dataset(*tok, b);
  data::Corpus corpus;
  corpus.add(data::Dataset::open(dir.file("out")));
  for (bool pin : {true, false}) {
    data::LoaderOptions o;
    o.seq_len = 8;
    o.micro_batch = 4;
    o.pin_memory = pin;
    data::Loader loader(corpus, o);
    const auto batch = loader.next();
    ASSERT_TRUE(batch);
    EXPECT_EQ(batch->input_ids.is_pinned(), pin);
    EXPECT_EQ(batch->labels.is_pinned(), pin);
    const at::Tensor on_gpu = batch->input_ids.to(at::Device(at::kCUDA, 0), /*non_blocking=*/true);
    EXPECT_TRUE(at::equal(on_gpu.cpu(), batch->input_ids));
  }
}

}  // namespace
}  // namespace distill
