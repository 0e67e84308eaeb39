// Config --set overrides (each JSON kind, malformed ones, "(from --set)"), load() and the to_json round trip.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "config_test_helpers.h"
#include "distill/config/config.h"
#include "distill/util/errors.h"
#include "test_support.h"

namespace distill::config {
namespace {

using namespace test;  // minimal(), with(), failure(), message(), kSource

// ---- --set overrides

// parse(minimal() + each assignment).
Config overridden(const std::vector<std::string>& sets) {
  Json root = minimal();
  std::vector<std::string> paths;
  for (const auto& s : sets) paths.push_back(apply_override(root, s));
  return parse(root, kSource, paths);
}

TEST(ConfigOverride, EachJsonKind) {
  EXPECT_EQ(overridden({"train.micro_batch=8"}).train.micro_batch, 8);
  EXPECT_EQ(overridden({"optim.lr=3e-5"}).optim.lr, 3e-5);
  EXPECT_EQ(overridden({"train.grad_checkpointing=true"}).train.grad_checkpointing, true);
  EXPECT_EQ(overridden({"data.shuffle=false"}).data.shuffle, false);
  EXPECT_EQ(overridden({"optim.betas=[0.9,0.95]"}).optim.betas, (std::vector<double>{0.9, 0.95}));
  EXPECT_EQ(overridden({R"(data.valid=["v1.jsonl","v2.jsonl"])"}).data.valid,
            (std::vector<std::string>{"v1.jsonl", "v2.jsonl"}));
  EXPECT_FALSE(overridden({"teacher=null", "loss.kind=ce"}).teacher.has_value());
}

TEST(ConfigOverride, PlainAndQuotedStrings) {
  EXPECT_EQ(overridden({"student.path=/models/opt-125m"}).student.path, "/models/opt-125m");
  EXPECT_EQ(overridden({"train.device=cuda:0"}).train.device, "cuda:0");
  EXPECT_EQ(overridden({R"(data.text_field="123")"}).data.text_field, "123");
  EXPECT_EQ(overridden({"student.tokenizer="}).student.tokenizer, "");
  EXPECT_EQ(overridden({"checkpoint.dir=runs/a=b"}).checkpoint.dir, "runs/a=b");  // split at the first '='
}

TEST(ConfigOverride, SectionsWholeOrCreated) {
  Json root = minimal();
  root.erase("teacher");
  apply_override(root, "teacher.path=/m/t2");  // a missing section is created
  EXPECT_EQ(parse(root, kSource).teacher->path, "/m/t2");
  root["teacher"] = nullptr;
  apply_override(root, "teacher.dtype=fp16");  // so is a null one
  EXPECT_EQ(root["teacher"], Json::parse(R"({"dtype": "fp16"})"));
  const Config c = overridden({R"(teacher={"path": "/m/t3", "dtype": "fp32"})"});
  EXPECT_EQ(c.teacher->path, "/m/t3");
  EXPECT_EQ(c.teacher->dtype, "fp32");
}

TEST(ConfigOverride, LaterWinsAndPathIsReturned) {
  Json root = minimal();
  EXPECT_EQ(apply_override(root, "train.seed=1"), "train.seed");
  apply_override(root, "train.seed=2");
  EXPECT_EQ(parse(root, kSource).train.seed, 2);
}

TEST(ConfigOverride, MalformedAssignments) {
  const Json before = with(R"({"train": {"micro_batch": 4}})");
  Json root = before;
  auto error_of = [&](const std::string& assignment) {
    try {
      apply_override(root, assignment);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    ADD_FAILURE() << "no error for " << assignment;
    return std::string();
  };
  EXPECT_EQ(error_of("train.micro_batch"), "--set 'train.micro_batch': expected KEY=VALUE");
  EXPECT_EQ(error_of("=4"), "--set '=4': the key before '=' is empty");
  EXPECT_EQ(error_of("train..micro_batch=4"), "--set 'train..micro_batch=4': empty path component in 'train..micro_batch'");
  EXPECT_CONTAINS(error_of(".train=4"), "empty path component");
  EXPECT_CONTAINS(error_of("train.=4"), "empty path component");
  EXPECT_EQ(error_of("train.micro_batch.x=4"), "--set 'train.micro_batch.x=4': 'train.micro_batch' is number 4, not a section");
  EXPECT_EQ(root, before);  // failed assignments change nothing
}

TEST(ConfigOverride, BadValueSaysFromSet) {
  EXPECT_EQ(failure(minimal(), {"train.micro_batch=abc"}).message,
            "configs/x.json: key 'train.micro_batch' (from --set): expected an integer, got string \"abc\"");
  EXPECT_EQ(failure(minimal(), {"train.micro_batch=0"}).message,
            "configs/x.json: key 'train.micro_batch' (from --set) must be >= 1, got 0");
  EXPECT_EQ(failure(minimal(), {"optim.betas=[0.9,2]"}).message,
            "configs/x.json: key 'optim.betas[1]' (from --set) must be in [0, 1), got 2");
}

TEST(ConfigOverride, FileValuesDoNotSayFromSet) {
  EXPECT_EQ(failure(with(R"({"train": {"micro_batch": 0}})"), {"train.seed=3"}).message,
            "configs/x.json: key 'train.micro_batch' must be >= 1, got 0");
}

TEST(ConfigOverride, UnknownKeyFromSetIsSuggested) {
  EXPECT_EQ(failure(minimal(), {"train.micro_bach=8"}).message,
            "configs/x.json: unknown key 'train.micro_bach' (from --set); did you mean 'train.micro_batch'?");
  EXPECT_EQ(failure(minimal(), {"trian.seed=8"}).message,
            "configs/x.json: unknown key 'trian' (from --set); did you mean 'train'?");
}

TEST(ConfigOverride, StringForAListShowsTheListOverride) {
  const Failure f = failure(minimal(), {"data.valid=v.jsonl"});
  EXPECT_EQ(f.message, "configs/x.json: key 'data.valid' (from --set): expected a list of strings, got string \"v.jsonl\"");
  EXPECT_EQ(f.hint, "write a list: --set 'data.valid=[\"v.jsonl\"]'");
}

TEST(ConfigOverride, NumberForAStringKeyHintsQuoting) {
  const Failure f = failure(minimal(), {"data.text_field=123"});
  EXPECT_EQ(f.message, "configs/x.json: key 'data.text_field' (from --set): expected a string, got number 123");
  EXPECT_EQ(f.hint, "to pass it as a string, quote it: --set 'data.text_field=\"123\"'");
}

TEST(ConfigOverride, LoadReadsAppliesAndParses) {
  testing::TempDir dir;
  testing::write_file(dir.file("c.json"), minimal().dump());
  const Config c = load(dir.file("c.json"), {"train.max_steps=20", "schedule.warmup_steps=5"});
  EXPECT_EQ(c.train.max_steps, 20);
  EXPECT_EQ(c.schedule.warmup_steps, 5);
  try {
    load(dir.file("c.json"), {"loss.alpha=2"});
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), dir.file("c.json") + ": key 'loss.alpha' (from --set) must be in [0, 1], got 2");
  }
}

// ---- to_json and the round trip

// Every field set, by hand, to something other than its default.
Config everything_changed() {
  Config c;
  c.teacher.emplace();
  c.teacher->path = "/m/qwen";
  c.teacher->dtype = "fp16";
  c.teacher->tokenizer = "/m/qwen/tokenizer.json";
  c.teacher->init.from = "random";
  c.student.path = "/m/opt";
  c.student.dtype = "bf16";
  c.student.tokenizer = "/m/opt/tok";
  c.student.init.from = "teacher";
  c.student.init.layers = 2;
  c.student.init.keep_layers = {0, 3};
  c.student.init.layer_selection = "uniform";
  c.student.init.heads = 8;
  c.student.init.kv_heads = 2;
  c.student.init.hidden = 512;
  c.student.init.intermediate = 1024;
  c.student.init.calibration = "calib.jsonl";
  c.student.init.calibration_samples = 64;
  c.student.init.calibration_seq_len = 256;
  c.student.init.random = true;
  c.data.train = {"a.jsonl", "b/*.txt"};
  c.data.valid = {"v.jsonl"};
  c.data.text_field = "content";
  c.data.seq_len = 512;
  c.data.shuffle = false;
  c.data.packing = false;
  c.data.seed = 7;
  c.data.valid_fraction = 0.05;
  c.data.label_field = "category";
  c.data.txt_mode = "paragraph";
  c.data.add_special_tokens = false;
  c.data.max_length_ratio = 0.5;
  c.data.long_samples = "cut";
  c.data.invalid_utf8 = "skip";
  c.data.keep_text = false;
  c.data.cache_dir = "/cache";
  c.data.prefetch = 0;
  c.data.augment.command = {"/bin/bt --via de"};
  c.data.augment.shell = true;
  c.data.augment.timeout_s = 12.5;
  c.loss.kind = "jsd";
  c.loss.temperature = 3.5;
  c.loss.alpha = 0.7;
  c.loss.beta = 0.1;
  c.loss.chunk_tokens = 1024;
  c.loss.cross_tokenizer = "align";
  c.optim.lr = 3e-5;
  c.optim.betas = {0.8, 0.95};
  c.optim.eps = 1e-6;
  c.optim.weight_decay = 0.1;
  c.optim.decay_norms_and_biases = true;
  c.optim.grad_clip = 0.0;
  c.schedule.warmup_steps = 33;
  c.schedule.decay = "linear";
  c.schedule.min_lr_ratio = 1.0 / 3.0;
  c.train.device = "cuda:3";
  c.train.precision = "fp16";
  c.train.micro_batch = 2;
  c.train.grad_accum = 8;
  c.train.max_steps = 10000;
  c.train.grad_checkpointing = true;
  c.train.auto_micro_batch = true;
  c.train.max_nonfinite_steps = 9;
  c.train.log_every = 5;
  c.train.eval_every = 100;
  c.train.seed = 99;
  c.checkpoint.dir = "/runs/x";
  c.checkpoint.every_steps = 250;
  c.checkpoint.keep_last = 1;
  return c;
}

TEST(ConfigRoundTrip, EveryFieldSurvivesJsonText) {
  const Config c = everything_changed();
  const Config back = parse(Json::parse(to_json(c).dump(2)), kSource);
  EXPECT_EQ(back, c);
  // Independently of operator==, a few fields of each kind.
  EXPECT_EQ(back.teacher->tokenizer, "/m/qwen/tokenizer.json");
  EXPECT_EQ(back.schedule.min_lr_ratio, 1.0 / 3.0);
  EXPECT_EQ(back.optim.betas, c.optim.betas);
  EXPECT_EQ(back.data.train, c.data.train);
  EXPECT_EQ(back.train.auto_micro_batch, true);
  EXPECT_EQ(back.checkpoint.keep_last, 1);
  EXPECT_EQ(to_json(back), to_json(c));
}

TEST(ConfigRoundTrip, AbsentTeacherIsNull) {
  Config c = everything_changed();
  c.teacher.reset();
  c.loss.kind = "ce";
  c.student.init = {};  // without a teacher there is nothing to build the student from
  const Json j = to_json(c);
  EXPECT_TRUE(j.at("teacher").is_null());
  EXPECT_EQ(parse(j, kSource), c);
}

TEST(ConfigRoundTrip, EveryKeyInSchemaOrder) {
  const Json j = to_json(everything_changed());
  std::vector<std::string> paths;
  // Nested groups (data.augment) flatten to dotted paths.
  std::function<void(const std::string&, const Json&)> flatten = [&](const std::string& prefix, const Json& object) {
    for (const auto& [name, value] : object.items()) {
      if (value.is_object()) flatten(prefix + name + ".", value);
      else paths.push_back(prefix + name);
    }
  };
  flatten("", j);
  std::vector<std::string> documented;
  for (const auto& doc : key_docs()) documented.push_back(doc.path);
  // teacher.init has one key, so it is always written as its shorthand value ("init": "random").
  for (auto& path : paths) {
    if (path == "teacher.init") path = "teacher.init.from";
  }
  EXPECT_EQ(paths, documented);
  EXPECT_EQ(j.begin().key(), "teacher");
}

TEST(ConfigRoundTrip, EqualityComparesValues) {
  const Config a = everything_changed();
  Config b = a;
  EXPECT_EQ(a, b);
  b.optim.betas[1] = 0.951;
  EXPECT_NE(a, b);
  b = a;
  b.teacher->dtype = "bf16";
  EXPECT_NE(a, b);
  b = a;
  b.teacher.reset();
  EXPECT_NE(a, b);
  EXPECT_NE(b, a);
}

}  // namespace
}  // namespace distill::config
