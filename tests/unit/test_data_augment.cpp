// data.augment: a small python3 command answering each document with extra documents; the cache,
// the inactivity timeout, a failing command, a protocol violation, a command that is not there.
#include <gtest/gtest.h>

#include <chrono>

#include "data_test_helpers.h"
#include "distill/data/augment.h"
#include "distill/data/shards.h"

namespace distill::data {
namespace {

using namespace test;
using testing::TempDir;

// Answers {"text": t} with {"texts": [t.upper(), t[::-1]]}, nothing for texts containing "skip";
// appends a line to runs.log each time it starts.
const char* kScript = R"(import json, sys
with open(sys.argv[1], "a") as log:
    log.write("run\n")
for line in sys.stdin:
    t = json.loads(line)["text"]
    out = [] if "skip" in t else [t.upper(), t[::-1]]
    print(json.dumps({"texts": out}), flush=True)
)";

struct Fixture {
  TempDir dir;
  BuildOptions o;
  Fixture(const std::string& script, const std::string& input) {
    testing::write_file(dir.file("aug.py"), script);
    testing::write_file(dir.file("in.txt"), input);
    o = options({dir.file("in.txt")}, dir.file("out"));
    o.augment.command = {"python3", dir.file("aug.py"), dir.file("runs.log")};
    o.augment.cache_file = dir.file("cache.jsonl");
    o.augment.timeout_s = 20;
  }
  std::vector<std::string> texts() const {
    const auto ds = Dataset::open(dir.file("out"));
    std::vector<std::string> t;
    for (std::int64_t d = 0; d < ds->num_documents(); ++d) t.emplace_back(ds->text(d));
    return t;
  }
  std::string runs() const { return files::exists(dir.file("runs.log")) ? testing::read_file(dir.file("runs.log")) : ""; }
};

TEST(DataAugment, AnswersBecomeExtraDocumentsAfterTheirSource) {
  Fixture f(kScript, "abc\nplease skip me\nxy\n");
  const BuildResult r = build_dataset(gpt2(), f.o);
  EXPECT_EQ(f.texts(), (std::vector<std::string>{"abc", "ABC", "cba", "please skip me", "xy", "XY", "yx"}));
  const auto ds = Dataset::open(f.dir.file("out"));
  EXPECT_EQ(ds->flags(0), 0);
  EXPECT_EQ(ds->flags(1), kFlagAugmented);
  EXPECT_EQ(ds->flags(2), kFlagAugmented);
  EXPECT_EQ(ds->source(5), 0u);
  EXPECT_EQ(ds->tokens(1), gpt2().encode_ids("ABC"));
  EXPECT_EQ(r.meta["counts"]["augmented_documents"], 4);
  EXPECT_EQ(r.meta["counts"]["input_documents"], 3);
  EXPECT_EQ(f.runs(), "run\n");
}

TEST(DataAugment, CachedAnswersDoNotRunTheCommandAgain) {
  Fixture f(kScript, "abc\nxy\n");
  build_dataset(gpt2(), f.o);
  f.o.force = true;
  build_dataset(gpt2(), f.o);
  EXPECT_EQ(f.runs(), "run\n");  // the second build took every answer from the cache
  EXPECT_EQ(f.texts(), (std::vector<std::string>{"abc", "ABC", "cba", "xy", "XY", "yx"}));
  // A new document runs the command for it alone.
  testing::write_file(f.dir.file("in.txt"), "abc\nxy\nnew\n");
  build_dataset(gpt2(), f.o);
  EXPECT_EQ(f.runs(), "run\nrun\n");
  EXPECT_EQ(f.texts().size(), 9u);
  // A cache file cut by a killed run loses only its damaged tail.
  const std::string cache = testing::read_file(f.dir.file("cache.jsonl"));
  testing::write_file(f.dir.file("cache.jsonl"), cache.substr(0, cache.size() - 5));
  build_dataset(gpt2(), f.o);
  EXPECT_EQ(f.runs(), "run\nrun\nrun\n");
  EXPECT_EQ(f.texts().size(), 9u);
}

TEST(DataAugment, ShellStringRunsThroughSh) {
  Fixture f(kScript, "abc\n");
  f.o.augment.command = {"python3 '" + f.dir.file("aug.py") + "' '" + f.dir.file("runs.log") + "' | cat"};
  f.o.augment.shell = true;
  build_dataset(gpt2(), f.o);
  EXPECT_EQ(f.texts(), (std::vector<std::string>{"abc", "ABC", "cba"}));
}

TEST(DataAugment, ACommandThatStopsAnsweringIsKilledAfterTheTimeout) {
  Fixture f("import sys, time\nsys.stdin.readline()\ntime.sleep(60)\n", "abc\n");
  f.o.augment.timeout_s = 0.5;
  const auto start = std::chrono::steady_clock::now();
  const std::string m = error_of<InputError>([&] { build_dataset(gpt2(), f.o); });
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_CONTAINS(m, "data.augment.command 'python3 ");
  EXPECT_CONTAINS(m, "no progress for 0.5 s (0 of 1 lines answered); killed (data.augment.timeout_s = 0.5)");
  EXPECT_FALSE(files::exists(f.dir.file("out")));
}

TEST(DataAugment, AFailingCommandIsExit3WithItsStderr) {
  Fixture f("import sys\nsys.stderr.write('translate: bad credentials for the service\\n')\nsys.exit(3)\n", "abc\n");
  try {
    build_dataset(gpt2(), f.o);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    EXPECT_CONTAINS(std::string(e.what()), "closed its output after 0 of 1 expected lines and exited with status 3");
    EXPECT_CONTAINS(std::string(e.what()), "its stderr ends with:\ntranslate: bad credentials for the service");
    EXPECT_CONTAINS(e.hint(), "{\"texts\": [...]}");
  }
  // Exiting non-zero after answering everything is a failure too.
  Fixture g("import sys, json\nfor l in sys.stdin:\n    print(json.dumps({'texts': []}), flush=True)\nsys.exit(1)\n",
            "abc\n");
  EXPECT_CONTAINS(error_of<InputError>([&] { build_dataset(gpt2(), g.o); }), "exited with status 1");
}

TEST(DataAugment, AnAnswerOutsideTheProtocolIsExit3) {
  Fixture f("import sys\nfor l in sys.stdin:\n    print('translated!', flush=True)\n", "abc\n");
  EXPECT_CONTAINS(error_of<InputError>([&] { build_dataset(gpt2(), f.o); }),
                  "broke the protocol: an answer line is not valid JSON: translated!");
  Fixture g("import sys\nfor l in sys.stdin:\n    print('{\"text\": \"x\"}', flush=True)\n", "abc\n");
  EXPECT_CONTAINS(error_of<InputError>([&] { build_dataset(gpt2(), g.o); }),
                  "an answer line is not an object with a \"texts\" list");
}

TEST(DataAugment, ACommandThatCannotStartIsAUsageError) {
  Fixture f(kScript, "abc\n");
  f.o.augment.command = {f.dir.file("no-such-tool")};
  EXPECT_CONTAINS(error_of<UsageError>([&] { build_dataset(gpt2(), f.o); }), "data.augment.command: cannot start");
}

}  // namespace
}  // namespace distill::data
