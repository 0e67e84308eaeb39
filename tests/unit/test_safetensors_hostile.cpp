// Hostile safetensors files: each must be an InputError (exit 3) naming the file and the problem.
#include <gtest/gtest.h>

#include "distill/io/safetensors.h"
#include "distill/util/errors.h"
#include "safetensors_bytes.h"
#include "test_support.h"

namespace distill::testing {
namespace {

// Opens the case's bytes as a file and checks the error: type, exit code, path and fragments.
void expect_rejected(const HostileCase& c) {
  TempDir dir;
  const std::string path = dir.file(c.name + ".safetensors");
  write_file(path, c.bytes);
  try {
    io::SafetensorsFile::open(path);
    ADD_FAILURE() << c.name << ": opened without an error";
  } catch (const InputError& e) {
    EXPECT_EQ(static_cast<int>(e.code()), 3);
    EXPECT_EQ(e.path(), path);
    const std::string message = e.what();
    EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << message;
    for (const auto& fragment : c.expect) EXPECT_NE(message.find(fragment), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  } catch (const std::exception& e) {
    ADD_FAILURE() << c.name << ": wrong exception type: " << e.what();
  }
}

TEST(SafetensorsHostile, EmptyFile) { expect_rejected(hostile_case("EmptyFile")); }
TEST(SafetensorsHostile, ShorterThanLengthPrefix) { expect_rejected(hostile_case("ShorterThanLengthPrefix")); }
TEST(SafetensorsHostile, HeaderLengthBeyondFile) { expect_rejected(hostile_case("HeaderLengthBeyondFile")); }
TEST(SafetensorsHostile, HeaderOver100MB) { expect_rejected(hostile_case("HeaderOver100MB")); }
TEST(SafetensorsHostile, HeaderLengthMaxU64) { expect_rejected(hostile_case("HeaderLengthMaxU64")); }
TEST(SafetensorsHostile, InvalidJson) { expect_rejected(hostile_case("InvalidJson")); }
TEST(SafetensorsHostile, HeaderNotObject) { expect_rejected(hostile_case("HeaderNotObject")); }
TEST(SafetensorsHostile, EntryNotObject) { expect_rejected(hostile_case("EntryNotObject")); }
TEST(SafetensorsHostile, TruncatedData) { expect_rejected(hostile_case("TruncatedData")); }
TEST(SafetensorsHostile, OffsetsOutsideData) { expect_rejected(hostile_case("OffsetsOutsideData")); }
TEST(SafetensorsHostile, OverlappingOffsets) { expect_rejected(hostile_case("OverlappingOffsets")); }
TEST(SafetensorsHostile, ReversedOffsets) { expect_rejected(hostile_case("ReversedOffsets")); }
TEST(SafetensorsHostile, UnorderedWithGap) { expect_rejected(hostile_case("UnorderedWithGap")); }
TEST(SafetensorsHostile, TrailingBytes) { expect_rejected(hostile_case("TrailingBytes")); }
TEST(SafetensorsHostile, ByteCountMismatch) { expect_rejected(hostile_case("ByteCountMismatch")); }
TEST(SafetensorsHostile, UnknownDtype) { expect_rejected(hostile_case("UnknownDtype")); }
TEST(SafetensorsHostile, NegativeShape) { expect_rejected(hostile_case("NegativeShape")); }
TEST(SafetensorsHostile, FractionalOffsets) { expect_rejected(hostile_case("FractionalOffsets")); }
TEST(SafetensorsHostile, ShapeOverflow) { expect_rejected(hostile_case("ShapeOverflow")); }
TEST(SafetensorsHostile, MetadataNotStrings) { expect_rejected(hostile_case("MetadataNotStrings")); }
TEST(SafetensorsHostile, DuplicateKey) { expect_rejected(hostile_case("DuplicateKey")); }
TEST(SafetensorsHostile, MissingField) { expect_rejected(hostile_case("MissingField")); }

TEST(SafetensorsHostile, EveryCaseHasItsOwnTest) {
  // Guards against a case added to the table but never run here (the CLI suite runs all of them).
  EXPECT_EQ(hostile_cases().size(), 22u);
}

TEST(SafetensorsHostile, MissingFileIsInputError) {
  TempDir dir;
  try {
    io::SafetensorsFile::open(dir.file("absent.safetensors"));
    ADD_FAILURE() << "opened a missing file";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("absent.safetensors: cannot open: No such file"), std::string::npos) << e.what();
  }
}

TEST(SafetensorsHostile, DirectoryIsInputError) {
  TempDir dir;
  EXPECT_THROW(io::SafetensorsFile::open(dir.path()), InputError);
}

TEST(SafetensorsHostile, BoolBytesOtherThanZeroOrOneRejectedOnRead) {
  TempDir dir;
  const std::string path = dir.file("bool.safetensors");
  write_file(path, safetensors_bytes(R"({"mask": {"dtype": "BOOL", "shape": [3], "data_offsets": [0, 3]}})",
                                     std::string("\x01\x00\x07", 3)));
  auto file = io::SafetensorsFile::open(path);  // the header is fine
  try {
    file->tensor("mask");
    ADD_FAILURE() << "accepted a BOOL byte of 7";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'mask' has dtype BOOL but byte 2 holds 7"), std::string::npos) << e.what();
  }
}

TEST(SafetensorsHostile, UnknownTensorNameIsInputError) {
  TempDir dir;
  const std::string path = dir.file("one.safetensors");
  write_file(path, safetensors_bytes(R"({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}})", "x"));
  auto file = io::SafetensorsFile::open(path);
  EXPECT_EQ(file->find("b"), nullptr);
  EXPECT_THROW(file->tensor("b"), InputError);
}

// The parser also works on memory directly; a file shorter than 8 bytes must not be read past its end.
TEST(SafetensorsHostile, ParseFileRespectsSize) {
  const std::string bytes = safetensors_bytes("{}");  // 10 valid bytes...
  EXPECT_NO_THROW(io::parse_file(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "m"));
  // ...but told it holds only 9, the header no longer fits.
  EXPECT_THROW(io::parse_file(reinterpret_cast<const std::uint8_t*>(bytes.data()), 9, "m"), InputError);
  EXPECT_THROW(io::parse_file(nullptr, 0, "m"), InputError);
}

}  // namespace
}  // namespace distill::testing
