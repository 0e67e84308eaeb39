// Config parsing: defaults, every error kind (with its message), --set overrides and the round trip.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "distill/config/config.h"
#include "distill/util/errors.h"
#include "test_support.h"

namespace distill::config {
namespace {

// gtest's own substring check (gmock is not installed on every machine).
#define EXPECT_CONTAINS(haystack, needle) EXPECT_PRED_FORMAT2(::testing::IsSubstring, needle, haystack)

constexpr const char* kSource = "configs/x.json";

// The smallest valid config; tests add or change keys on it.
Json minimal() {
  return Json::parse(R"({"teacher": {"path": "/m/t"}, "student": {"path": "/m/s"}, "data": {"train": ["a.jsonl"]}})");
}

// Sections of `patch` merge into those of `into`; every other value (null too) is set as given.
void merge(Json& into, const Json& patch) {
  for (const auto& [key, value] : patch.items()) {
    if (value.is_object() && into.contains(key) && into[key].is_object()) {
      merge(into[key], value);
    } else {
      into[key] = value;
    }
  }
}

// minimal() with `patch` merged in.
Json with(const char* patch) {
  Json root = minimal();
  merge(root, Json::parse(patch));
  return root;
}

struct Failure {
  std::string message;
  std::string hint;
};

// The UsageError parse() throws for `root` (after applying `sets`); a test failure when none is thrown.
Failure failure(Json root, const std::vector<std::string>& sets = {}) {
  try {
    std::vector<std::string> overridden;
    for (const auto& s : sets) overridden.push_back(apply_override(root, s));
    parse(root, kSource, overridden);
  } catch (const UsageError& e) {
    return {e.what(), e.hint()};
  }
  ADD_FAILURE() << "expected a UsageError for " << root.dump();
  return {};
}

std::string message(const Json& root) { return failure(root).message; }

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
  EXPECT_EQ(f.hint, "list validation files in data.valid, or set train.eval_every to 0");
  EXPECT_NO_THROW(parse(with(R"({"train": {"eval_every": 50}, "data": {"valid": ["v.jsonl"]}})"), kSource));
}

TEST(ConfigValidate, CalledDirectlyNamesNoFile) {
  try {
    validate(Config());
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), "loss.kind \"forward_kl\" distils from a teacher, but the config has none");
  }
}

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
  c.student.path = "/m/opt";
  c.student.dtype = "bf16";
  c.student.tokenizer = "/m/opt/tok";
  c.data.train = {"a.jsonl", "b/*.txt"};
  c.data.valid = {"v.jsonl"};
  c.data.text_field = "content";
  c.data.seq_len = 512;
  c.data.shuffle = false;
  c.data.packing = false;
  c.data.seed = 7;
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
  const Json j = to_json(c);
  EXPECT_TRUE(j.at("teacher").is_null());
  EXPECT_EQ(parse(j, kSource), c);
}

TEST(ConfigRoundTrip, EveryKeyInSchemaOrder) {
  const Json j = to_json(everything_changed());
  std::vector<std::string> paths;
  for (const auto& [section, keys] : j.items()) {
    for (const auto& [name, unused] : keys.items()) {
      (void)unused;
      paths.push_back(section + "." + name);
    }
  }
  std::vector<std::string> documented;
  for (const auto& doc : key_docs()) documented.push_back(doc.path);
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
