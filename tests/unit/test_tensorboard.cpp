// TensorBoard event files: CRC-32C check values, varint and TFRecord framing, the Event encoding
// (read back by a small protobuf reader written here, not by the code under test), RunDir writing
// the events file beside metrics.jsonl, its cut-back on resume, and a failed write.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <algorithm>

#include "checkpoint_test_helpers.h"
#include "distill/checkpoint/tensorboard.h"
#include "distill/util/errors.h"
#include "distill/util/logging.h"
#include "tfevents_test_reader.h"

namespace distill::testing {
namespace {

using checkpoint::Json;
using checkpoint::ResumeMode;
using checkpoint::RunDir;
using checkpoint::TensorBoardWriter;
namespace tb = checkpoint::tensorboard;
using tfevents::Event;
using tfevents::le;
using tfevents::parse_event;
using tfevents::read_events;
using tfevents::read_records;
using tfevents::read_varint;
using tfevents::slow_crc32c;

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

// ---- CRC-32C

TEST(TensorBoardCrc32c, Rfc3720CheckValues) {
  EXPECT_EQ(tb::crc32c("123456789", 9), 0xE3069283u);
  const std::string zeros(32, '\0'), ones(32, '\xff');
  EXPECT_EQ(tb::crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(tb::crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  EXPECT_EQ(tb::crc32c("", 0), 0u);
}

TEST(TensorBoardCrc32c, ContinuesAcrossPiecesAndMatchesTheBitwiseReference) {
  EXPECT_EQ(tb::crc32c("6789", 4, tb::crc32c("12345", 5)), 0xE3069283u);
  std::string bytes;
  for (int i = 0; i < 1000; ++i) bytes.push_back(static_cast<char>((i * 131 + 7) & 0xff));
  EXPECT_EQ(tb::crc32c(bytes.data(), bytes.size()), slow_crc32c(bytes));
}

TEST(TensorBoardCrc32c, Masking) {
  // ((0xE3069283 >> 15) | (0xE3069283 << 17)) + 0xa282ead8, in uint32 arithmetic.
  EXPECT_EQ(tb::mask_crc(0xE3069283u), 0xC78AB0E5u);
  EXPECT_EQ(tb::masked_crc32c("123456789", 9), 0xC78AB0E5u);
  EXPECT_EQ(tb::mask_crc(0), 0xa282ead8u);
}

// ---- varints and records

TEST(TensorBoardVarint, Encodings) {
  const std::vector<std::pair<std::uint64_t, std::string>> cases = {
      {0, "00"}, {1, "01"}, {127, "7f"}, {128, "8001"}, {300, "ac02"}, {16384, "808001"},
      {~std::uint64_t{0}, "ffffffffffffffffff01"}};
  for (const auto& [value, expected] : cases) {
    std::string out;
    tb::put_varint(out, value);
    EXPECT_EQ(hex(out), expected) << value;
    std::size_t pos = 0;
    EXPECT_EQ(read_varint(out, pos), value);
    EXPECT_EQ(pos, out.size());
  }
}

TEST(TensorBoardRecord, FramingAndBothCrcs) {
  const std::string rec = tb::frame_record("abc");
  ASSERT_EQ(rec.size(), 8u + 4 + 3 + 4);
  EXPECT_EQ(hex(rec.substr(0, 8)), "0300000000000000");
  EXPECT_EQ(le(rec, 8, 4), 0x0e4999b0u);   // masked crc32c of the 8 length bytes
  EXPECT_EQ(rec.substr(12, 3), "abc");
  EXPECT_EQ(le(rec, 15, 4), 0x21f1576eu);  // masked crc32c of "abc"
  EXPECT_EQ(read_records(rec + tb::frame_record("") + tb::frame_record(std::string(300, 'x'))),
            (std::vector<std::string>{"abc", "", std::string(300, 'x')}));
}

TEST(TensorBoardRecord, TheReaderRejectsDamage) {
  std::string rec = tb::frame_record("hello");
  rec[13] ^= 1;
  EXPECT_THROW(read_records(rec), std::runtime_error);
  EXPECT_THROW(read_records(tb::frame_record("hello").substr(0, 20)), std::runtime_error);
}

// ---- events

TEST(TensorBoardEvent, ExactBytesOfAScalarEvent) {
  // 09 <1.5 as little-endian double> | 10 03 | 2a 13 [ 0a 11 [ 0a 0a "train/loss" 15 <1.25f> ] ]
  const std::string expected = "09000000000000f83f" "1003" "2a13" "0a11" "0a0a" + hex("train/loss") + "15" + "0000a03f";
  EXPECT_EQ(hex(tb::scalars_event(1.5, 3, {{"train/loss", 1.25f}})), expected);
}

TEST(TensorBoardEvent, FileVersionEvent) {
  const Event e = parse_event(tb::file_version_event(1234.5));
  EXPECT_EQ(e.file_version, "brain.Event:2");
  EXPECT_EQ(e.wall_time, 1234.5);
  EXPECT_EQ(e.step, 0);
  EXPECT_FALSE(e.has_summary);
}

TEST(TensorBoardEvent, ManyValuesAndLargeOrNegativeSteps) {
  std::vector<tb::Scalar> scalars;
  for (int i = 0; i < 40; ++i) scalars.push_back({"train/k" + std::to_string(i), static_cast<float>(i) * 0.5f});
  const Event e = parse_event(tb::scalars_event(1.7e9, 123456789012LL, scalars));
  EXPECT_EQ(e.step, 123456789012LL);
  EXPECT_EQ(e.wall_time, 1.7e9);
  ASSERT_EQ(e.values.size(), 40u);
  EXPECT_EQ(e.values[39], (std::pair<std::string, float>{"train/k39", 19.5f}));
  EXPECT_EQ(parse_event(tb::scalars_event(0, -5, {})).step, -5);
}

TEST(TensorBoardEvent, ScalarsOfRowTagsAndSkips) {
  const Json train = {{"step", 7}, {"loss", 1.5}, {"kd_loss", 2.0}, {"lr", 1e-4}, {"skipped", false},
                      {"note", "x"}, {"nothing", nullptr}, {"loss_scale", 65536}};
  const auto s = tb::scalars_of_row(train);
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].tag, "train/loss");
  EXPECT_EQ(s[0].value, 1.5f);
  EXPECT_EQ(s[1].tag, "train/kd_loss");
  EXPECT_EQ(s[2].tag, "train/lr");
  EXPECT_EQ(s[2].value, 1e-4f);
  EXPECT_EQ(s[3].tag, "train/loss_scale");
  EXPECT_EQ(s[3].value, 65536.0f);
  EXPECT_EQ(tb::step_of_row(train), 7);

  const Json valid = {{"step", 20}, {"val_loss", 3.0}, {"val_ppl", 12.5}, {"val_tokens", 4096}};
  const auto v = tb::scalars_of_row(valid);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].tag, "valid/loss");
  EXPECT_EQ(v[1].tag, "valid/ppl");
  EXPECT_EQ(v[1].value, 12.5f);
  EXPECT_EQ(v[2].tag, "valid/tokens");
  EXPECT_EQ(v[2].value, 4096.0f);
  EXPECT_EQ(tb::step_of_row(valid), 20);
}

TEST(TensorBoardWriter, FileVersionOnlyWhenTheFileIsEmpty) {
  TempDir dir;
  const std::string path = dir.file("sub/events.out.tfevents.x");
  {
    TensorBoardWriter w(path);  // creates sub/
    w.append({{"step", 1}, {"loss", 2.0}}, 100.0);
    w.append({{"step", 2}, {"loss", 1.0}}, 101.0);
  }
  {
    TensorBoardWriter w(path);  // reopened: appends, no second file_version
    w.append({{"step", 3}, {"loss", 0.5}}, 102.0);
  }
  auto events = read_events(path);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_EQ(events[0].wall_time, 100.0);
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(events[i].file_version, "");
    EXPECT_EQ(events[i].step, static_cast<std::int64_t>(i));
    EXPECT_EQ(events[i].wall_time, 99.0 + static_cast<double>(i));
    ASSERT_EQ(events[i].values.size(), 1u);
    EXPECT_EQ(events[i].values[0].first, "train/loss");
  }
  EXPECT_EQ(events[3].values[0].second, 0.5f);
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);
  TensorBoardWriter w(path);
  w.append({{"step", 9}, {"loss", 0.25}}, 103.0);
  events = read_events(path);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_EQ(events[1].step, 9);
}

TEST(TensorBoardWriter, UnwritableFolderIsOutputErrorNamingIt) {
  TempDir dir;
  write_file(dir.file("blocker"), "a file, not a folder");
  try {
    TensorBoardWriter w(dir.file("blocker/events.out.tfevents.0"));
    ADD_FAILURE() << "no error";
  } catch (const OutputError& e) {
    EXPECT_CONTAINS(std::string(e.what()), dir.file("blocker"));
  }
}

// ---- RunDir

std::string events_path(const TempDir& dir) { return dir.file(checkpoint::kTensorBoardEventsFile); }

// The (step, values) of each event after the file_version one, for comparing runs without wall times.
std::vector<std::pair<std::int64_t, std::vector<std::pair<std::string, float>>>> contents(const std::vector<Event>& events) {
  std::vector<std::pair<std::int64_t, std::vector<std::pair<std::string, float>>>> out;
  for (std::size_t i = 1; i < events.size(); ++i) out.emplace_back(events[i].step, events[i].values);
  return out;
}

void log_rows(RunDir& run, std::int64_t first, std::int64_t last, const std::vector<std::int64_t>& saves) {
  for (std::int64_t s = first; s <= last; ++s) {
    run.append_metrics(metrics_row(s));
    if (std::find(saves.begin(), saves.end(), s) != saves.end()) run.save_checkpoint(data_for_step(s), 10);
  }
}

TEST(TensorBoardRunDir, FreshStartWritesFileVersionThenEveryRow) {
  TempDir dir;
  const double before = tb::wall_time_now();
  {
    RunDir run(dir.path());
    run.resume(ResumeMode::kAuto);
    run.append_metrics({{"step", 1}, {"loss", 2.5}, {"kd_loss", 3.0}, {"lr", 1e-4}, {"skipped", false}});
    run.append_metrics({{"step", 2}, {"val_loss", 2.25}, {"val_ppl", 9.5}, {"val_tokens", 512}});
  }
  const double after = tb::wall_time_now();
  EXPECT_EQ(files::list_directory(dir.file("tensorboard")), (std::vector<std::string>{"events.out.tfevents.0.distill"}));
  const auto events = read_events(events_path(dir));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_FALSE(events[0].has_summary);
  for (const Event& e : events) {
    EXPECT_GE(e.wall_time, before);
    EXPECT_LE(e.wall_time, after);
  }
  EXPECT_EQ(events[1].step, 1);
  EXPECT_EQ(events[1].values, (std::vector<std::pair<std::string, float>>{
                                  {"train/loss", 2.5f}, {"train/kd_loss", 3.0f}, {"train/lr", 1e-4f}}));
  EXPECT_EQ(events[2].step, 2);
  EXPECT_EQ(events[2].values, (std::vector<std::pair<std::string, float>>{
                                  {"valid/loss", 2.25f}, {"valid/ppl", 9.5f}, {"valid/tokens", 512.0f}}));
  // metrics.jsonl is as before: one line per row.
  EXPECT_EQ(read_file(dir.file("metrics.jsonl")),
            "{\"step\":1,\"loss\":2.5,\"kd_loss\":3.0,\"lr\":0.0001,\"skipped\":false}\n"
            "{\"step\":2,\"val_loss\":2.25,\"val_ppl\":9.5,\"val_tokens\":512}\n");
}

TEST(TensorBoardRunDir, CheckpointRecordsTheEventsFileSize) {
  TempDir dir;
  RunDir run(dir.path());
  run.resume(ResumeMode::kAuto);
  log_rows(run, 1, 2, {2});
  const auto loaded = checkpoint::load_checkpoint_folder(step_dir(dir.path(), 2));
  const auto it = loaded.append_files.find(checkpoint::kTensorBoardEventsFile);
  ASSERT_NE(it, loaded.append_files.end());
  EXPECT_EQ(it->second, files::file_size(events_path(dir)));
  EXPECT_GT(it->second, 0);
}

TEST(TensorBoardRunDir, ResumeCutsTheEventsFileBackAndEqualsAnUninterruptedRun) {
  TempDir dir, straight;
  std::string at_checkpoint;
  {
    RunDir run(dir.path());
    run.resume(ResumeMode::kAuto);
    log_rows(run, 1, 2, {2});
    at_checkpoint = read_file(events_path(dir));
    log_rows(run, 3, 5, {});  // then "killed"
  }
  ASSERT_EQ(read_events(events_path(dir)).size(), 6u);
  {
    RunDir run(dir.path());
    const auto loaded = run.resume(ResumeMode::kAuto);
    ASSERT_TRUE(loaded);
    ASSERT_EQ(loaded->state.step, 2);
    EXPECT_EQ(read_file(events_path(dir)), at_checkpoint);  // byte for byte, wall times included
    log_rows(run, 3, 6, {});
  }
  {
    RunDir run(straight.path());
    run.resume(ResumeMode::kAuto);
    log_rows(run, 1, 6, {2});
  }
  const auto resumed = read_events(events_path(dir));
  const auto uninterrupted = read_events(events_path(straight));
  ASSERT_EQ(resumed.size(), 7u);  // file_version + steps 1..6, none twice
  EXPECT_EQ(resumed[0].file_version, "brain.Event:2");
  for (std::size_t i = 1; i < resumed.size(); ++i) {
    EXPECT_EQ(resumed[i].file_version, "");
    EXPECT_EQ(resumed[i].step, static_cast<std::int64_t>(i));
  }
  EXPECT_EQ(contents(resumed), contents(uninterrupted));
  EXPECT_EQ(read_file(dir.file("metrics.jsonl")), metrics_text(6));
}

TEST(TensorBoardRunDir, FreshStartEmptiesTheEventsFileAndWritesFileVersionAgain) {
  TempDir dir;
  {
    RunDir run(dir.path());
    run.resume(ResumeMode::kAuto);
    log_rows(run, 1, 3, {});
  }
  RunDir run(dir.path());
  EXPECT_FALSE(run.resume(ResumeMode::kAuto));
  EXPECT_EQ(files::file_size(events_path(dir)), 0);
  log_rows(run, 1, 1, {});
  const auto events = read_events(events_path(dir));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_EQ(events[1].step, 1);
}

// A child whose file-size limit lets the metrics line through but not the row's event (SIGXFSZ
// ignored, so the write fails with EFBIG): the OutputError names the events file, and both files
// are left holding the earlier rows only.
TEST(TensorBoardRunDir, FailedEventWriteIsCutOffWithTheMetricsLine) {
  TempDir dir;
  const int code = testing::output_error_when_file_too_big(
      [&](const auto& limit) {
        log::set_level(log::Level::kError);
        RunDir run(dir.path());
        run.resume(ResumeMode::kAuto);
        run.append_metrics(metrics_row(1));
        const std::int64_t events = files::file_size(events_path(dir));
        const std::int64_t metrics = files::file_size(dir.file("metrics.jsonl"));
        // The next metrics line must fit under the limit for the event to be what fails.
        if (metrics + static_cast<std::int64_t>(metrics_row(2).dump().size()) + 1 > events + 20) ::_exit(14);
        limit(static_cast<std::uint64_t>(events + 20));
        run.append_metrics(metrics_row(2));
      },
      [](const std::string& m) { return m.find(checkpoint::kTensorBoardEventsFile) != std::string::npos; });
  EXPECT_EQ(code, 0) << testing::kFileTooBigCodes << ", 14: test precondition (sizes) not met";
  EXPECT_EQ(read_file(dir.file("metrics.jsonl")), metrics_text(1));
  const auto events = read_events(events_path(dir));  // whole records only
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].step, 1);
}

}  // namespace
}  // namespace distill::testing
