// Config parsing: defaults, reading files, and every error kind in a file, each with its message.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config_test_helpers.h"
#include "distill/config/config.h"
#include "distill/util/errors.h"
#include "test_support.h"

namespace distill::config {
namespace {

using namespace test;  // minimal(), with(), failure(), message(), kSource

// ---- defaults

TEST(ConfigDefaults, MinimalConfigGetsEveryDefault) {
  const Config c = parse(minimal(), kSource);
  EXPECT_EQ(c.student.path, "/m/s");
  EXPECT_EQ(c.data.train, std::vector<std::string>{"a.jsonl"});
  EXPECT_TRUE(c.data.valid.empty());
  EXPECT_EQ(c.data.text_field, "text");
  EXPECT_EQ(c.data.seq_len, 2048);
  EXPECT_EQ(c.loss.kind, "forward_kl");
  EXPECT_EQ(c.loss.temperature, 2.0);
  EXPECT_EQ(c.optim.betas, (std::vector<double>{0.9, 0.999}));
  EXPECT_EQ(c.schedule.decay, "cosine");
  EXPECT_EQ(c.train.micro_batch, 4);
  EXPECT_EQ(c.train.device, "auto");
  EXPECT_EQ(c.checkpoint.dir, "runs/distill");
}

TEST(ConfigDefaults, StudentDefaultsToFp32MasterWeightsTeacherToBf16) {
  const Config c = parse(minimal(), kSource);
  ASSERT_TRUE(c.teacher.has_value());
  EXPECT_EQ(c.teacher->dtype, "bf16");
  EXPECT_EQ(c.student.dtype, "fp32");
  EXPECT_EQ(Config().student.dtype, "fp32");
}

TEST(ConfigDefaults, TeacherMayBeNullOrAbsentForCe) {
  Config c = parse(with(R"({"teacher": null, "loss": {"kind": "ce"}})"), kSource);
  EXPECT_FALSE(c.teacher.has_value());
  Json absent = with(R"({"loss": {"kind": "ce"}})");
  absent.erase("teacher");
  c = parse(absent, kSource);
  EXPECT_FALSE(c.teacher.has_value());
}

TEST(ConfigDefaults, EveryDefaultPassesItsOwnChecks) {
  // Every key written out with its default (plus the required ones) parses back unchanged.
  Config c;
  c.teacher.emplace();
  c.teacher->path = "/m/t";
  c.student.path = "/m/s";
  c.data.train = {"a.jsonl"};
  EXPECT_EQ(parse(to_json(c), kSource), c);
}

// ---- reading files

TEST(ConfigFile, MissingFileIsNamed) {
  testing::TempDir dir;
  try {
    read_json_file(dir.file("nope.json"));
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_CONTAINS(e.what(), dir.file("nope.json") + ": cannot open config file: No such file");
  }
}

TEST(ConfigFile, DirectoryIsNotAConfig) {
  testing::TempDir dir;
  EXPECT_THROW(read_json_file(dir.path()), UsageError);
}

TEST(ConfigFile, EmptyFileSaysEmpty) {
  testing::TempDir dir;
  testing::write_file(dir.file("e.json"), " \n");
  try {
    read_json_file(dir.file("e.json"));
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), dir.file("e.json") + ": config file is empty");
  }
}

TEST(ConfigFile, MalformedJsonGivesLineAndColumn) {
  testing::TempDir dir;
  testing::write_file(dir.file("bad.json"), "{\n  \"train\": {\n    \"micro_batch\": 4,\n  }\n}\n");
  try {
    read_json_file(dir.file("bad.json"));
    FAIL() << "no error";
  } catch (const UsageError& e) {
    const std::string m = e.what();
    EXPECT_CONTAINS(m, dir.file("bad.json") + ": invalid JSON at line 4, column 3: ");
    EXPECT_CONTAINS(m, "unexpected '}'");
    EXPECT_PRED_FORMAT2(::testing::IsNotSubstring, "json.exception", m);
  }
}

TEST(ConfigFile, TopLevelMustBeAnObject) {
  testing::TempDir dir;
  testing::write_file(dir.file("list.json"), "[1, 2]");
  try {
    read_json_file(dir.file("list.json"));
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()),
              dir.file("list.json") + ": the top level must be a JSON object of sections, got list [1,2]");
  }
  EXPECT_EQ(message(Json("x")), "configs/x.json: the top level must be a JSON object of sections, got string \"x\"");
}

TEST(ConfigFile, RepeatedKeyIsAnError) {
  testing::TempDir dir;
  testing::write_file(dir.file("dup.json"), R"({"train": {"micro_batch": 4, "seed": 1, "micro_batch": 8}})");
  try {
    read_json_file(dir.file("dup.json"));
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), dir.file("dup.json") + ": key 'train.micro_batch' appears more than once");
  }
}

TEST(ConfigFile, KeepsDocumentOrder) {
  testing::TempDir dir;
  testing::write_file(dir.file("c.json"), R"({"train": {"seed": 1}, "student": {"path": "/s"}})");
  const Json root = read_json_file(dir.file("c.json"));
  EXPECT_EQ(root.begin().key(), "train");
}

// ---- unknown keys

TEST(ConfigUnknownKey, SuggestsTheClosestKey) {
  const Failure f = failure(with(R"({"train": {"micro_bach": 4}})"));
  EXPECT_EQ(f.message, "configs/x.json: unknown key 'train.micro_bach'; did you mean 'train.micro_batch'?");
  EXPECT_CONTAINS(f.hint, "keys in 'train': device, precision, micro_batch");
}

TEST(ConfigUnknownKey, SuggestsTheClosestSection) {
  EXPECT_EQ(message(with(R"({"trian": {"micro_batch": 4}})")),
            "configs/x.json: unknown key 'trian'; did you mean 'train'?");
  EXPECT_EQ(message(with(R"({"teachr": {"path": "/t"}})")),
            "configs/x.json: unknown key 'teachr'; did you mean 'teacher'?");
}

TEST(ConfigUnknownKey, FindsAKeyFiledInTheWrongSection) {
  EXPECT_EQ(message(with(R"({"train": {"lr": 0.001}})")),
            "configs/x.json: unknown key 'train.lr'; did you mean 'optim.lr'?");
  EXPECT_EQ(message(with(R"({"micro_batch": 8})")),
            "configs/x.json: unknown key 'micro_batch'; did you mean 'train.micro_batch'?");
}

TEST(ConfigUnknownKey, DottedKeyAtTheTopSaysNestIt) {
  const Failure f = failure(with(R"({"train.micro_batch": 8})"));
  EXPECT_EQ(f.message, "configs/x.json: unknown key 'train.micro_batch': keys are nested, not dotted");
  EXPECT_EQ(f.hint, "write {\"train\": {\"micro_batch\": ...}}");
  EXPECT_EQ(message(with(R"({"train.micro_bach": 8})")),
            "configs/x.json: unknown key 'train.micro_bach'; did you mean 'train.micro_batch'?");
}

TEST(ConfigUnknownKey, WithinTheOptionalTeacher) {
  EXPECT_EQ(message(with(R"({"teacher": {"dtyp": "fp16"}})")),
            "configs/x.json: unknown key 'teacher.dtyp'; did you mean 'teacher.dtype'?");
}

TEST(ConfigUnknownKey, NothingCloseListsTheSection) {
  const Failure f = failure(with(R"({"optim": {"momentum": 0.9}})"));
  EXPECT_EQ(f.message, "configs/x.json: unknown key 'optim.momentum'");
  EXPECT_EQ(f.hint,
            "keys in 'optim': lr, betas, eps, weight_decay, decay_norms_and_biases, grad_clip "
            "(docs/config.md lists every key)");
  EXPECT_CONTAINS(failure(with(R"({"wandb": {}})")).hint, "sections: teacher, student, data");
}

// ---- sections and scalars in each other's place

TEST(ConfigShape, ScalarWhereASectionBelongs) {
  EXPECT_EQ(message(with(R"({"train": 5})")),
            "configs/x.json: key 'train': expected a section (JSON object), got number 5");
  EXPECT_EQ(message(with(R"({"optim": null})")),
            "configs/x.json: key 'optim': expected a section (JSON object), got null");
}

TEST(ConfigShape, SectionWhereAScalarBelongs) {
  EXPECT_EQ(message(with(R"({"train": {"micro_batch": {"value": 4}}})")),
            "configs/x.json: key 'train.micro_batch': expected an integer, got section {\"value\":4}");
}

TEST(ConfigShape, TeacherIsASectionOrNull) {
  EXPECT_EQ(message(with(R"({"teacher": "/models/qwen"})")),
            "configs/x.json: key 'teacher': expected a section (JSON object) or null, got string \"/models/qwen\"");
}

// ---- types

TEST(ConfigType, StringWhereANumberBelongs) {
  EXPECT_EQ(message(with(R"({"optim": {"lr": "fast"}})")),
            "configs/x.json: key 'optim.lr': expected a number, got string \"fast\"");
}

TEST(ConfigType, IntegersMustBeIntegral) {
  EXPECT_EQ(message(with(R"({"train": {"micro_batch": 2.5}})")),
            "configs/x.json: key 'train.micro_batch': expected an integer, got number 2.5");
  EXPECT_EQ(parse(with(R"({"train": {"micro_batch": 4.0}})"), kSource).train.micro_batch, 4);
  EXPECT_EQ(parse(with(R"({"train": {"max_steps": 1e4}})"), kSource).train.max_steps, 10000);
}

TEST(ConfigType, IntegerBeyond64BitsIsNamed) {
  EXPECT_EQ(message(with(R"({"data": {"seed": 18446744073709551615}})")),
            "configs/x.json: key 'data.seed': expected an integer within 64 bits, got number 18446744073709551615");
  EXPECT_EQ(message(with(R"({"data": {"seed": 1e30}})")),
            "configs/x.json: key 'data.seed': expected an integer, got number 1e+30");
}

TEST(ConfigType, BooleansAreNotNumbersAndNumbersNotBooleans) {
  EXPECT_EQ(message(with(R"({"optim": {"grad_clip": true}})")),
            "configs/x.json: key 'optim.grad_clip': expected a number, got boolean true");
  EXPECT_EQ(message(with(R"({"train": {"micro_batch": false}})")),
            "configs/x.json: key 'train.micro_batch': expected an integer, got boolean false");
  EXPECT_EQ(message(with(R"({"data": {"shuffle": 1}})")),
            "configs/x.json: key 'data.shuffle': expected a boolean (true or false), got number 1");
  EXPECT_EQ(message(with(R"({"data": {"shuffle": "yes"}})")),
            "configs/x.json: key 'data.shuffle': expected a boolean (true or false), got string \"yes\"");
}

TEST(ConfigType, NullIsNotAValue) {
  EXPECT_EQ(message(with(R"({"loss": {"alpha": null}})")),
            "configs/x.json: key 'loss.alpha': expected a number, got null");
}

TEST(ConfigType, StringWhereAListBelongsShowsTheList) {
  const Failure f = failure(with(R"({"data": {"train": "a.jsonl"}})"));
  EXPECT_EQ(f.message, "configs/x.json: key 'data.train': expected a list of strings, got string \"a.jsonl\"");
  EXPECT_EQ(f.hint, "write a list: [\"a.jsonl\"]");
}

TEST(ConfigType, ListElementsAreChecked) {
  EXPECT_EQ(message(with(R"({"optim": {"betas": ["0.9", 0.95]}})")),
            "configs/x.json: key 'optim.betas[0]': expected a number, got string \"0.9\"");
  EXPECT_EQ(message(with(R"({"data": {"valid": ["v.jsonl", 3]}})")),
            "configs/x.json: key 'data.valid[1]': expected a string, got number 3");
}

// ---- ranges and choices

TEST(ConfigRange, IntegerBelowItsMinimum) {
  EXPECT_EQ(message(with(R"({"train": {"micro_batch": 0}})")),
            "configs/x.json: key 'train.micro_batch' must be >= 1, got 0");
  EXPECT_EQ(message(with(R"({"data": {"seed": -1}})")), "configs/x.json: key 'data.seed' must be >= 0, got -1");
}

TEST(ConfigRange, TemperatureAndLearningRateArePositive) {
  EXPECT_EQ(message(with(R"({"loss": {"temperature": 0}})")),
            "configs/x.json: key 'loss.temperature' must be > 0, got 0");
  EXPECT_EQ(message(with(R"({"optim": {"lr": -3e-5}})")), "configs/x.json: key 'optim.lr' must be > 0, got -3e-05");
}

TEST(ConfigRange, AlphaWithinZeroAndOneInclusive) {
  EXPECT_EQ(message(with(R"({"loss": {"alpha": 1.5}})")),
            "configs/x.json: key 'loss.alpha' must be in [0, 1], got 1.5");
  EXPECT_EQ(parse(with(R"({"loss": {"alpha": 0}})"), kSource).loss.alpha, 0.0);
  EXPECT_EQ(parse(with(R"({"loss": {"alpha": 1}})"), kSource).loss.alpha, 1.0);
}

TEST(ConfigRange, BetasAreTwoNumbersBelowOne) {
  EXPECT_EQ(message(with(R"({"optim": {"betas": [0.9]}})")),
            "configs/x.json: key 'optim.betas' must be a list of 2 elements, each in [0, 1), got [0.9]");
  EXPECT_EQ(message(with(R"({"optim": {"betas": [0.9, 1.0]}})")),
            "configs/x.json: key 'optim.betas[1]' must be in [0, 1), got 1.0");
  EXPECT_EQ(message(with(R"({"optim": {"betas": [-0.1, 0.9]}})")),
            "configs/x.json: key 'optim.betas[0]' must be in [0, 1), got -0.1");
  EXPECT_EQ(parse(with(R"({"optim": {"betas": [0, 0.95]}})"), kSource).optim.betas, (std::vector<double>{0, 0.95}));
}

TEST(ConfigRange, ChoicesAreListed) {
  EXPECT_EQ(message(with(R"({"loss": {"kind": "kl"}})")),
            "configs/x.json: key 'loss.kind' must be one of forward_kl, reverse_kl, jsd, ce; got \"kl\"");
  EXPECT_EQ(message(with(R"({"train": {"precision": "float16"}})")),
            "configs/x.json: key 'train.precision' must be one of bf16, fp16, fp32; got \"float16\"");
}

TEST(ConfigRange, ChoiceTypoGetsASuggestion) {
  EXPECT_EQ(message(with(R"({"loss": {"kind": "foward_kl"}})")),
            "configs/x.json: key 'loss.kind' must be one of forward_kl, reverse_kl, jsd, ce; got \"foward_kl\"; "
            "did you mean \"forward_kl\"?");
}

TEST(ConfigRange, DeviceForms) {
  EXPECT_EQ(parse(with(R"({"train": {"device": "cuda:1"}})"), kSource).train.device, "cuda:1");
  EXPECT_EQ(parse(with(R"({"train": {"device": "cpu"}})"), kSource).train.device, "cpu");
  EXPECT_EQ(message(with(R"({"train": {"device": "gpu"}})")),
            "configs/x.json: key 'train.device' must be auto, cpu, cuda or cuda:N, got \"gpu\"");
  EXPECT_CONTAINS(message(with(R"({"train": {"device": "cuda:"}})")), "must be auto, cpu, cuda or cuda:N");
  EXPECT_CONTAINS(message(with(R"({"train": {"device": "cuda:x"}})")), "must be auto, cpu, cuda or cuda:N");
}

TEST(ConfigRange, EmptyStringsAndEntriesAreRejected) {
  EXPECT_EQ(message(with(R"({"data": {"text_field": ""}})")),
            "configs/x.json: key 'data.text_field' must be non-empty, got \"\"");
  EXPECT_EQ(message(with(R"({"data": {"train": ["a.jsonl", ""]}})")),
            "configs/x.json: key 'data.train[1]' must be non-empty, got \"\"");
  EXPECT_EQ(message(with(R"({"data": {"train": []}})")),
            "configs/x.json: key 'data.train' must be a non-empty list, got []");
}

// ---- cross-key validation

TEST(ConfigValidate, TeacherRequiredUnlessCe) {
  const Failure f = failure(with(R"({"teacher": null})"));
  EXPECT_EQ(f.message, "configs/x.json: loss.kind \"forward_kl\" distils from a teacher, but the config has none");
  EXPECT_CONTAINS(f.hint, "set loss.kind to \"ce\"");
  EXPECT_CONTAINS(failure(with(R"({"teacher": null, "loss": {"kind": "jsd"}})")).message, "\"jsd\"");
}

TEST(ConfigValidate, CeMayKeepATeacherSection) {
  // A CE-only baseline of a KD config is `--set loss.kind=ce`; the teacher is then not loaded.
  EXPECT_TRUE(parse(with(R"({"loss": {"kind": "ce"}})"), kSource).teacher.has_value());
}

TEST(ConfigValidate, RequiredKeysSayWhatToSet) {
  Json no_teacher_path = minimal();
  no_teacher_path["teacher"].erase("path");
  const Failure t = failure(no_teacher_path);
  EXPECT_CONTAINS(t.message, "configs/x.json: missing required key 'teacher.path': the teacher: a Hugging Face");
  EXPECT_EQ(t.hint, "set it in the config file or with --set teacher.path=...");

  Json no_student = minimal();
  no_student.erase("student");
  EXPECT_CONTAINS(message(no_student), "configs/x.json: missing required key 'student.path': ");

  Json no_data = minimal();
  no_data.erase("data");
  const Failure d = failure(no_data);
  EXPECT_CONTAINS(d.message, "configs/x.json: missing required key 'data.train': training data");
  EXPECT_EQ(d.hint, "set it in the config file or with --set 'data.train=[\"...\"]'");
}

TEST(ConfigValidate, WarmupWithinMaxSteps) {
  const Failure f = failure(with(R"({"schedule": {"warmup_steps": 2000}, "train": {"max_steps": 1000}})"));
  EXPECT_EQ(f.message, "configs/x.json: schedule.warmup_steps (2000) must be <= train.max_steps (1000)");
  EXPECT_EQ(f.hint, "lower schedule.warmup_steps or raise train.max_steps");
  EXPECT_NO_THROW(parse(with(R"({"schedule": {"warmup_steps": 1000}, "train": {"max_steps": 1000}})"), kSource));
}

TEST(ConfigValidate, PeriodicValidationNeedsValidationData) {
  const Failure f = failure(with(R"({"train": {"eval_every": 50}})"));
  EXPECT_EQ(f.message, "configs/x.json: train.eval_every is 50 but data.valid is empty");
  EXPECT_EQ(f.hint, "list validation files in data.valid, set data.valid_fraction, or set train.eval_every to 0");
  EXPECT_NO_THROW(parse(with(R"({"train": {"eval_every": 50}, "data": {"valid": ["v.jsonl"]}})"), kSource));
}

// teacher.offload_layers counts streamed layers: it means nothing unless the teacher streams.
TEST(ConfigValidate, OffloadLayersNeedsLayerOffload) {
  const Failure f = failure(with(R"({"teacher": {"offload_layers": 8}})"));
  EXPECT_EQ(f.message, "configs/x.json: teacher.offload_layers is 8 but teacher.offload is \"none\": nothing is "
                       "streamed");
  EXPECT_CONTAINS(f.hint, "set teacher.offload to \"layers\"");
  EXPECT_CONTAINS(message(with(R"({"teacher": {"offload": "layers", "offload_layers": -1}})")),
                  "teacher.offload_layers");
  const Config c = parse(with(R"({"teacher": {"offload": "layers", "offload_layers": 8}})"), kSource);
  EXPECT_EQ(c.teacher->offload_layers, 8);
  EXPECT_EQ(parse(minimal(), kSource).teacher->offload_layers, 0);  // all layers, when offload is layers
}

TEST(ConfigValidate, CalledDirectlyNamesNoFile) {
  try {
    validate(Config());
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), "loss.kind \"forward_kl\" distils from a teacher, but the config has none");
  }
}

}  // namespace
}  // namespace distill::config
