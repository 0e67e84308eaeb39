// TensorBoard event files: the scalars of metrics.jsonl as TFRecord-framed tensorflow.Event
// protobufs, encoded by hand (no protobuf dependency), so `tensorboard --logdir RUN_DIR` shows them.
//
// File format (what TensorFlow's tf.summary writers produce):
//   record = uint64 length (little-endian) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)
//   data   = tensorflow.Event (tensorflow/core/util/event.proto):
//              1: wall_time (double)  2: step (int64)  3: file_version (string)  5: summary (Summary)
//            Summary: 1: repeated Value;  Value: 1: tag (string), 2: simple_value (float)
// The first record of a file is an Event carrying file_version "brain.Event:2"; every later record
// carries one metrics row: each numeric field except "step" as a Value, training fields tagged
// "train/<key>", validation fields ("val_<key>") tagged "valid/<key>".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "distill/checkpoint/checkpoint.h"

namespace distill::checkpoint {

// The run directory's events file, relative to the run directory. One fixed name (TensorBoard only
// needs "tfevents" in it) so that RunDir's cut-back on resume leaves it equal to an uninterrupted run's.
constexpr const char* kTensorBoardDir = "tensorboard";
constexpr const char* kTensorBoardEventsFile = "tensorboard/events.out.tfevents.0.distill";
constexpr const char* kTensorBoardFileVersion = "brain.Event:2";

namespace tensorboard {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), continuing from `crc` (0 to start).
// crc32c("123456789") == 0xE3069283.
std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc = 0);
// TFRecord's masking: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
std::uint32_t mask_crc(std::uint32_t crc);
std::uint32_t masked_crc32c(const void* data, std::size_t size);

// Protobuf base-128 varint of `value`, appended to `out`.
void put_varint(std::string& out, std::uint64_t value);
// `data` framed as one TFRecord.
std::string frame_record(const std::string& data);

// One scalar of a Summary.
struct Scalar {
  std::string tag;
  float value = 0;
};

// Serialized Event messages.
std::string file_version_event(double wall_time);
std::string scalars_event(double wall_time, std::int64_t step, const std::vector<Scalar>& scalars);

// The scalars of one metrics row, in the row's key order: every number (booleans, strings, nulls,
// arrays and objects are skipped) except "step"; "val_x" -> "valid/x", anything else "train/<key>".
std::vector<Scalar> scalars_of_row(const Json& row);
// The row's "step" (0 when it has none).
std::int64_t step_of_row(const Json& row);

// Seconds since the epoch, as TensorBoard's wall_time.
double wall_time_now();

}  // namespace tensorboard

// Appends metrics rows to one events file. Like metrics.jsonl, each row is one write(2) on an
// O_APPEND descriptor; a failed write is cut off again and thrown as an OutputError naming the file.
// When the file is empty (new, or cut back to nothing on resume) the file_version record goes first,
// in the same write as the row.
class TensorBoardWriter {
 public:
  // Creates the file's folder if needed and opens (creates) the file for appending. OutputError on failure.
  explicit TensorBoardWriter(std::string path);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  const std::string& path() const { return path_; }
  // Appends the row's event (a row with no numeric field still gets one: TensorBoard sees the step).
  void append(const Json& row);
  // Same, with a given wall time (tests).
  void append(const Json& row, double wall_time);

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace distill::checkpoint
