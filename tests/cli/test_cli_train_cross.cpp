// `distill train` across tokenizers, end to end on the real binary: configs/qwen7b_to_opt125m.json
// with tiny stand-ins (tests/configs/): a Qwen2 teacher with the Qwen tokenizer, an OPT student with
// the GPT-2 tokenizer. align trains with both tokenizations; transplant trains and exports a
// student that carries the teacher's tokenizer.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "distill/models/init.h"
#include "distill/models/loader.h"
#include "distill/tokenizer/tokenizer.h"
#include "distill/util/files.h"
#include "test_support.h"
#include "tokenizer_data.h"

namespace distill {
namespace {

using Json = nlohmann::json;
using testing::run_distill;
using testing::TempDir;

#define EXPECT_CONTAINS(haystack, needle) EXPECT_PRED_FORMAT2(::testing::IsSubstring, needle, haystack)

const std::string kConfig = std::string(DISTILL_SOURCE_DIR) + "/configs/qwen7b_to_opt125m.json";
const std::string kStandIns = std::string(DISTILL_SOURCE_DIR) + "/tests/configs/models";

struct CrossFixture {
  TempDir tmp;
  std::vector<std::string> args;
  CrossFixture() {
    // The teacher's weights: random, written here (152k rows are too big to commit).
    models::CausalLM teacher =
        models::init_model(kStandIns + "/qwen2-tiny-qwenvocab", {at::kFloat, at::kCPU, false}, 5);
    models::save_model(*teacher, tmp.file("teacher"));
    // Real text with digits, punctuation and a few non-Latin documents.
    std::ofstream train(tmp.file("train.jsonl")), valid(tmp.file("valid.jsonl"));
    std::ifstream texts(testing::data_path("tokenizers/texts.jsonl"));
    std::string line;
    int n = 0;
    while (std::getline(texts, line)) {
      const auto j = Json::parse(line);
      if (!j.contains("text") || !j["text"].is_string()) continue;
      (n++ % 30 == 0 ? valid : train) << Json{{"text", j["text"]}}.dump() << "\n";
    }
    train << Json{{"text", "\xE4\xB8\xAD\xE6\x96\x87 12345   spaces \xF0\x9F\x98\x80 end"}}.dump() << "\n";
    args = {"train", "--config", kConfig,
            "--set", "teacher.path=" + tmp.file("teacher"),
            "--set", "teacher.tokenizer=" + testing::downloaded_path("qwen3"),
            "--set", "teacher.dtype=fp32",
            "--set", "student.path=" + kStandIns + "/opt-tiny-gpt2vocab",
            "--set", "student.init=random",
            "--set", "student.tokenizer=" + testing::downloaded_path("gpt2"),
            "--set", "data.train=[\"" + tmp.file("train.jsonl") + "\"]",
            "--set", "data.valid=[\"" + tmp.file("valid.jsonl") + "\"]",
            "--set", "data.seq_len=48",
            "--set", "loss.chunk_tokens=40",
            "--set", "train.device=cpu",
            "--set", "train.precision=fp32",
            "--set", "train.micro_batch=2",
            "--set", "train.grad_accum=1",
            "--set", "train.max_steps=3",
            "--set", "train.log_every=1",
            "--set", "train.eval_every=2",
            "--set", "schedule.warmup_steps=1",
            "--set", "checkpoint.dir=" + tmp.file("run"),
            "--set", "checkpoint.every_steps=3"};
  }
  // distill train with the fixture's settings and `extra` --set overrides.
  testing::RunResult train(const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> all = args;
    for (const auto& e : extra) all.insert(all.end(), {"--set", e});
    return run_distill(all);
  }
  std::vector<Json> metrics() const {
    std::vector<Json> rows;
    std::ifstream f(tmp.file("run") + "/metrics.jsonl");
    std::string line;
    while (std::getline(f, line)) rows.push_back(Json::parse(line));
    return rows;
  }
};

TEST(CliTrainCross, TheHeadlineConfigResolvesWithAlign) {
  const auto r = run_distill({"train", "--config", kConfig, "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out).at("loss").at("cross_tokenizer"), "align");
}

TEST(CliTrainCross, AlignTrainsOnStandIns) {
  CrossFixture fx;
  const auto r = fx.train();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_CONTAINS(r.err, "align: in the first batch");
  const auto rows = fx.metrics();
  int train_rows = 0;
  for (const auto& row : rows) {
    if (!row.contains("kd_loss")) continue;
    ++train_rows;
    EXPECT_GT(row["kd_loss"].get<double>(), 0.0);
    EXPECT_TRUE(std::isfinite(row["loss"].get<double>()));
  }
  EXPECT_EQ(train_rows, 3);

  // The export carries the student's GPT-2 tokenizer, which .testdata/gpt2 holds as OpenAI's
  // encoder.json + vocab.bpe, under the names transformers reads, and it tokenizes alike.
  const auto e = run_distill({"export", fx.tmp.file("run"), "--out", fx.tmp.file("exported")});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  ASSERT_TRUE(files::exists(fx.tmp.file("exported/vocab.json")));
  ASSERT_TRUE(files::exists(fx.tmp.file("exported/merges.txt")));
  EXPECT_FALSE(files::exists(fx.tmp.file("exported/encoder.json")));
  const auto original = tokenizer::load_tokenizer(testing::downloaded_path("gpt2"));
  const auto exported = tokenizer::load_tokenizer(fx.tmp.file("exported"));
  const std::string text = "Distillation across tokenizers: 12345 \xE4\xB8\xAD\xE6\x96\x87   ok";
  EXPECT_EQ(exported->encode(text).ids, original->encode(text).ids);
  EXPECT_EQ(exported->vocab_size(), original->vocab_size());
}

TEST(CliTrainCross, TransplantTrainsAndExportsWithTheTeachersTokenizer) {
  CrossFixture fx;
  const auto r = fx.train({"loss.cross_tokenizer=transplant"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_CONTAINS(r.err, "transplant: the student now has the teacher's 151936 vocabulary rows");
  const auto e = run_distill({"export", fx.tmp.file("run"), "--out", fx.tmp.file("exported")});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const Json cfg = Json::parse(testing::read_file(fx.tmp.file("exported/config.json")));
  EXPECT_EQ(cfg.at("vocab_size"), 151936);
  EXPECT_EQ(cfg.at("eos_token_id"), 151645);  // .testdata/qwen3/tokenizer_config.json: eos <|im_end|>
  EXPECT_TRUE(files::exists(fx.tmp.file("exported/tokenizer.json")));
  EXPECT_FALSE(files::exists(fx.tmp.file("exported/vocab.json")));
  const models::CausalLM exported = models::load_model(fx.tmp.file("exported"));
  EXPECT_EQ(exported->spec().vocab_size, 151936);
}

TEST(CliTrainCross, AlignWithoutStoredTextIsAUsageError) {
  CrossFixture fx;
  const auto r = fx.train({"data.keep_text=false"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_CONTAINS(r.err, "data.keep_text");
}

}  // namespace
}  // namespace distill
