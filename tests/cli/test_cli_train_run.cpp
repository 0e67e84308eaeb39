// `distill train` end to end on generated tiny models with a real tokenizer and real text: a run,
// a no-op re-run, a resumed longer run, the lock, the export, and a validation pass.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "distill/checkpoint/run_dir.h"
#include "distill/models/init.h"
#include "distill/models/loader.h"
#include "distill/models/registry.h"
#include "distill/tokenizer/tokenizer.h"
#include "distill/util/files.h"
#include "test_support.h"

namespace distill {
namespace {

using Json = nlohmann::ordered_json;
using testing::run_distill;
using testing::TempDir;

// A random LLaMA-shaped model with the Brown SentencePiece tokenizer beside it.
void make_model(const std::string& dir, std::int64_t vocab, std::int64_t hidden, std::int64_t layers, std::uint64_t seed) {
  nlohmann::json cfg = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"vocab_size", vocab},
                        {"hidden_size", hidden}, {"intermediate_size", 2 * hidden}, {"num_hidden_layers", layers},
                        {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"max_position_embeddings", 256},
                        {"rms_norm_eps", 1e-5}, {"tie_word_embeddings", true}, {"bos_token_id", 1}, {"eos_token_id", 2}};
  models::CausalLM model(models::spec_from_config(models::HfConfig(cfg, dir + "/config.json")),
                         at::TensorOptions().dtype(at::kFloat));
  models::init_random(*model, seed, 0.1);
  models::save_model(*model, dir);
  testing::write_file(dir + "/tokenizer.model", testing::read_file(testing::data_path("tokenizers/brown_unigram.model")));
}

struct Fixture {
  TempDir tmp;
  std::string config;
  Fixture() {
    const auto tok = tokenizer::load_tokenizer(testing::data_path("tokenizers/brown_unigram.model"));
    const auto vocab = static_cast<std::int64_t>(tok->vocab_size());
    make_model(tmp.file("teacher"), vocab, 32, 2, 1);
    make_model(tmp.file("student"), vocab, 16, 1, 2);
    // Real text: the tokenizer tests' varied texts, as JSONL documents.
    std::ofstream train(tmp.file("train.jsonl"));
    std::ifstream texts(testing::data_path("tokenizers/texts.jsonl"));
    std::string line;
    while (std::getline(texts, line)) {
      const auto j = nlohmann::json::parse(line);
      if (j.contains("text") && j["text"].is_string()) train << nlohmann::json{{"text", j["text"]}}.dump() << "\n";
    }
    train.close();
    const Json cfg = {{"teacher", {{"path", tmp.file("teacher")}, {"dtype", "fp32"}}},
                      {"student", {{"path", tmp.file("student")}}},
                      {"data", {{"train", {tmp.file("train.jsonl")}}, {"seq_len", 32}, {"valid_fraction", 0.1}}},
                      {"loss", {{"temperature", 2.0}, {"alpha", 0.5}, {"chunk_tokens", 40}}},
                      {"optim", {{"lr", 1e-3}}},
                      {"schedule", {{"warmup_steps", 1}}},
                      {"train", {{"device", "cpu"}, {"precision", "fp32"}, {"micro_batch", 2}, {"grad_accum", 2},
                                 {"max_steps", 4}, {"log_every", 1}, {"eval_every", 2}}},
                      {"checkpoint", {{"dir", tmp.file("run")}, {"every_steps", 2}, {"keep_last", 2}}}};
    config = tmp.file("config.json");
    testing::write_file(config, cfg.dump(2));
  }
};

// A folder holding only `model`'s config.json (no weights, no tokenizer): what *.init random builds from.
std::string config_only_copy(const Fixture& fx, const std::string& model) {
  const std::string dir = fx.tmp.file("bare_" + model);
  EXPECT_EQ(::mkdir(dir.c_str(), 0755), 0) << dir;
  testing::write_file(dir + "/config.json", testing::read_file(fx.tmp.file(model + "/config.json")));
  return dir;
}

std::vector<Json> metrics(const std::string& run) {
  std::vector<Json> rows;
  std::ifstream f(run + "/metrics.jsonl");
  std::string line;
  while (std::getline(f, line)) rows.push_back(Json::parse(line));
  return rows;
}

TEST(CliTrainRun, TrainsResumesLocksAndExports) {
  Fixture fx;
  auto r = run_distill({"train", "--config", fx.config});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("trained to step 4"), std::string::npos) << r.out;
  auto rows = metrics(fx.tmp.file("run"));
  int train_rows = 0, val_rows = 0;
  for (const auto& row : rows) (row.contains("val_loss") ? val_rows : train_rows)++;
  EXPECT_EQ(train_rows, 4);
  EXPECT_GE(val_rows, 1);
  EXPECT_TRUE(files::exists(fx.tmp.file("run/config.json")));
  EXPECT_TRUE(files::exists(fx.tmp.file("run/train.log")));

  // The same command again: nothing to do, still exit 0 (cron-friendly).
  r = run_distill({"train", "--config", fx.config});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("nothing to do"), std::string::npos) << r.err;

  // A larger max_steps continues from the last checkpoint.
  r = run_distill({"train", "--config", fx.config, "--set", "train.max_steps=6"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("resumed from"), std::string::npos) << r.err;
  rows = metrics(fx.tmp.file("run"));
  EXPECT_EQ(rows.back().value("step", 0), 6);

  // --resume never refuses a run directory that has checkpoints.
  r = run_distill({"train", "--config", fx.config, "--resume", "never"});
  EXPECT_EQ(r.exit_code, 2) << r.err;

  // Another run holding the directory: exit 6, naming the holder.
  {
    checkpoint::RunDir held(fx.tmp.file("run"));
    r = run_distill({"train", "--config", fx.config, "--set", "train.max_steps=8"});
    EXPECT_EQ(r.exit_code, 6) << r.err;
    EXPECT_NE(r.err.find(std::to_string(::getpid())), std::string::npos) << r.err;
  }

  // The export loads as an HF folder with the tokenizer beside it.
  r = run_distill({"export", fx.tmp.file("run"), "--out", fx.tmp.file("exported")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(files::exists(fx.tmp.file("exported/tokenizer.model")));
  EXPECT_NO_THROW(models::load_model(fx.tmp.file("exported")));
}

TEST(CliTrainRun, EmptyTrainingDataExits3) {
  Fixture fx;
  testing::write_file(fx.tmp.file("train.jsonl"), "");
  const auto r = run_distill({"train", "--config", fx.config});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("train.jsonl"), std::string::npos) << r.err;
}

TEST(CliTrainRun, TokenizerLargerThanTheModelExits3) {
  Fixture fx;
  const auto r = run_distill({"train", "--config", fx.config, "--set",
                              "student.path=" + testing::data_path("models/llama"),  // 1000 rows
                              "--set", "student.tokenizer=" + testing::data_path("tokenizers/brown_unigram.model")});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("embedding rows"), std::string::npos) << r.err;
}

// The GPU-memory keys on a CPU run: exit 2 naming the key, before any model is loaded or anything
// is written to the run directory's checkpoints.
TEST(CliTrainRun, GpuMemoryKeysOnTheCpuExit2) {
  Fixture fx;
  auto r = run_distill({"train", "--config", fx.config, "--set", "teacher.offload=layers"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("teacher.offload"), std::string::npos) << r.err;
  r = run_distill({"train", "--config", fx.config, "--set", "train.gpu_memory_gib=22"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("train.gpu_memory_gib"), std::string::npos) << r.err;
  r = run_distill({"train", "--config", fx.config, "--set", "teacher.offload=disk"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("teacher.offload"), std::string::npos) << r.err;
  r = run_distill({"train", "--config", fx.config, "--set", "teacher.offload_layers=4"});  // offload is none
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("teacher.offload_layers"), std::string::npos) << r.err;
  EXPECT_FALSE(files::exists(fx.tmp.file("run/checkpoints/latest")));  // nothing trained or saved
}

// student.init random: a folder holding only config.json trains from scratch; the export carries
// the tokenizer named by student.tokenizer; eval_at_start validates the untrained student (step 0).
TEST(CliTrainRun, RandomInitStudentFromConfigAlone) {
  Fixture fx;
  const std::string bare = config_only_copy(fx, "student");
  const std::string tok = testing::data_path("tokenizers/brown_unigram.model");
  auto r = run_distill({"train", "--config", fx.config, "--set", "student.path=" + bare, "--set",
                        "student.init=random", "--set", "student.tokenizer=" + tok, "--set",
                        "train.eval_at_start=true"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("random initialisation"), std::string::npos) << r.err;
  const auto rows = metrics(fx.tmp.file("run"));
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.front().value("step", -1), 0);
  ASSERT_TRUE(rows.front().contains("val_ppl"));
  // An untrained model initialised with std 0.02 predicts nearly uniformly: perplexity near the
  // vocabulary size (2000 pieces); a little below it, as tied embeddings slightly favour repeating
  // the current token and these texts hold long runs of one character. A loaded pretrained student
  // would be far from it either way.
  EXPECT_GT(rows.front()["val_ppl"].get<double>(), 0.8 * 2000);
  EXPECT_LT(rows.front()["val_ppl"].get<double>(), 1.2 * 2000);
  ASSERT_TRUE(rows.front().contains("val_teacher_ppl"));

  r = run_distill({"export", fx.tmp.file("run"), "--out", fx.tmp.file("exported")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(testing::read_file(fx.tmp.file("exported/tokenizer.model")), testing::read_file(tok));
  EXPECT_NO_THROW(models::load_model(fx.tmp.file("exported")));

  // An unknown init is a config error naming the key.
  r = run_distill({"train", "--config", fx.config, "--set", "student.init=zeros", "--dry-run"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("student.init"), std::string::npos) << r.err;
}


// teacher.init random (throughput benchmarks at real shapes) and train.profile's per-phase split.
TEST(CliTrainRun, RandomTeacherAndProfile) {
  Fixture fx;
  const std::string bare = config_only_copy(fx, "teacher");
  const std::string tok = testing::data_path("tokenizers/brown_unigram.model");
  auto r = run_distill({"train", "--config", fx.config, "--set", "teacher.path=" + bare, "--set",
                        "teacher.init=random", "--set", "teacher.tokenizer=" + tok, "--set", "train.profile=true"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("teacher.init = random"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("teacher_forward"), std::string::npos) << r.err;
  // A random teacher predicts nearly uniformly over the 2000 pieces.
  double teacher_ppl = 0.0;
  for (const auto& row : metrics(fx.tmp.file("run"))) teacher_ppl = row.value("val_teacher_ppl", teacher_ppl);
  EXPECT_GT(teacher_ppl, 0.8 * 2000);
  EXPECT_LT(teacher_ppl, 1.2 * 2000);

  const Json p = Json::parse(testing::read_file(fx.tmp.file("run/profile.json")));
  // 4 steps, the first 2 left out as warm-up; each step is 2 micro-batches of 2 x 32 tokens.
  EXPECT_EQ(p["steps"].get<int>(), 2);
  EXPECT_EQ(p["tokens"].get<int>(), 2 * 2 * 2 * 32);
  double ms = 0.0, fraction = 0.0;
  for (const char* phase : {"data", "teacher_forward", "student_forward", "loss", "backward", "optimizer"}) {
    ASSERT_TRUE(p["phases"].contains(phase)) << phase;
    EXPECT_GE(p["phases"][phase]["ms_per_step"].get<double>(), 0.0) << phase;
    ms += p["phases"][phase]["ms_per_step"].get<double>();
    fraction += p["phases"][phase]["fraction"].get<double>();
  }
  EXPECT_GT(p["phases"]["teacher_forward"]["ms_per_step"].get<double>(), 0.0);
  EXPECT_GT(p["phases"]["backward"]["ms_per_step"].get<double>(), 0.0);
  EXPECT_NEAR(ms, p["ms_per_step"].get<double>(), 1e-6 * ms);
  EXPECT_NEAR(fraction, 1.0, 1e-9);
  EXPECT_NEAR(p["tokens_per_s"].get<double>(), 256.0 / (2 * ms / 1000.0), 1e-6 * p["tokens_per_s"].get<double>());

  r = run_distill({"train", "--config", fx.config, "--set", "teacher.init=zeros", "--dry-run"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("teacher.init"), std::string::npos) << r.err;

  // With train.overlap_teacher the last step has no teacher forward of its own (it ran a step
  // early), so the split leaves it out too: 4 steps, 2 of warm-up, 1 counted.
  r = run_distill({"train", "--config", fx.config, "--set", "teacher.path=" + bare, "--set", "teacher.init=random",
                   "--set", "teacher.tokenizer=" + tok, "--set", "train.profile=true", "--set",
                   "train.overlap_teacher=true", "--set", "checkpoint.dir=" + fx.tmp.file("ahead")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Json::parse(testing::read_file(fx.tmp.file("ahead/profile.json")))["steps"].get<int>(), 1);
}

// student.init from the teacher: one command builds the student (here the teacher's layer 1) into
// student.path and trains it; a resumed run reuses that folder; another recipe for it is refused.
TEST(CliTrainRun, StudentBuiltFromTheTeacherInline) {
  Fixture fx;
  const std::string built = fx.tmp.file("built");
  const std::vector<std::string> inline_init = {"--set", "student.path=" + built, "--set",
                                                R"(student.init={"from": "teacher", "keep_layers": [1]})"};
  auto args = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = {"train", "--config", fx.config};
    a.insert(a.end(), inline_init.begin(), inline_init.end());
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  auto r = run_distill(args({"--dry-run"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto resolved = Json::parse(r.out);
  EXPECT_EQ(resolved["student"]["init"]["from"], "teacher");
  EXPECT_EQ(resolved["student"]["init"]["keep_layers"], Json::parse("[1]"));
  EXPECT_FALSE(files::exists(built));  // a dry run builds nothing

  r = run_distill(args({"--set", "train.max_steps=2", "--set", "train.eval_at_start=true"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("building it from the teacher"), std::string::npos) << r.err;
  EXPECT_EQ(models::load_model(built)->spec().num_layers, 1);
  EXPECT_TRUE(files::exists(built + "/tokenizer.model"));  // copied from the teacher folder

  r = run_distill(args({"--set", "train.max_steps=4"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("reusing it"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("resumed from"), std::string::npos) << r.err;

  r = run_distill({"train", "--config", fx.config, "--set", "student.path=" + built, "--set",
                   R"(student.init={"from": "teacher", "keep_layers": [0]})", "--set", "train.max_steps=6"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("init_student.json"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace distill
