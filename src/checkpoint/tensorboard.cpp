// TensorBoard event files: CRC-32C, TFRecord framing, hand-encoded Event/Summary protobufs.
#include "distill/checkpoint/tensorboard.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "distill/util/errors.h"
#include "distill/util/files.h"
#include "distill/util/logging.h"

namespace distill::checkpoint {
namespace tensorboard {
namespace {

constexpr std::uint32_t kCastagnoliReflected = 0x82F63B78u;

std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1u) ? (c >> 1) ^ kCastagnoliReflected : c >> 1;
    table[i] = c;
  }
  return table;
}

// Protobuf wire types.
constexpr std::uint32_t kVarint = 0;
constexpr std::uint32_t kFixed64 = 1;
constexpr std::uint32_t kLengthDelimited = 2;
constexpr std::uint32_t kFixed32 = 5;

void put_key(std::string& out, std::uint32_t field, std::uint32_t wire_type) { put_varint(out, (field << 3) | wire_type); }

void put_le(std::string& out, std::uint64_t bits, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xffu));
}

void put_double(std::string& out, std::uint32_t field, double value) {
  std::uint64_t bits = 0;
  static_assert(sizeof bits == sizeof value, "double is not 64-bit");
  std::memcpy(&bits, &value, sizeof bits);
  put_key(out, field, kFixed64);
  put_le(out, bits, 8);
}

void put_float(std::string& out, std::uint32_t field, float value) {
  std::uint32_t bits = 0;
  static_assert(sizeof bits == sizeof value, "float is not 32-bit");
  std::memcpy(&bits, &value, sizeof bits);
  put_key(out, field, kFixed32);
  put_le(out, bits, 4);
}

void put_bytes(std::string& out, std::uint32_t field, const std::string& bytes) {
  put_key(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out += bytes;
}

// Event fields 1 (wall_time) and 2 (step).
std::string event_head(double wall_time, std::int64_t step) {
  std::string out;
  put_double(out, 1, wall_time);
  put_key(out, 2, kVarint);
  put_varint(out, static_cast<std::uint64_t>(step));  // int64: negative values as 10-byte two's complement
  return out;
}

}  // namespace

std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc) {
  static const std::array<std::uint32_t, 256> table = make_crc_table();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (std::size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
  return ~crc;
}

std::uint32_t mask_crc(std::uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

std::uint32_t masked_crc32c(const void* data, std::size_t size) { return mask_crc(crc32c(data, size)); }

void put_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7fu) | 0x80u));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

std::string frame_record(const std::string& data) {
  std::string out;
  out.reserve(data.size() + 16);
  put_le(out, data.size(), 8);
  const std::uint32_t length_crc = masked_crc32c(out.data(), 8);
  put_le(out, length_crc, 4);
  out += data;
  put_le(out, masked_crc32c(data.data(), data.size()), 4);
  return out;
}

std::string file_version_event(double wall_time) {
  std::string out = event_head(wall_time, 0);
  put_bytes(out, 3, kTensorBoardFileVersion);
  return out;
}

std::string scalars_event(double wall_time, std::int64_t step, const std::vector<Scalar>& scalars) {
  std::string summary;
  for (const Scalar& s : scalars) {
    std::string value;
    put_bytes(value, 1, s.tag);
    put_float(value, 2, s.value);
    put_bytes(summary, 1, value);
  }
  std::string out = event_head(wall_time, step);
  put_bytes(out, 5, summary);
  return out;
}

std::vector<Scalar> scalars_of_row(const Json& row) {
  std::vector<Scalar> out;
  if (!row.is_object()) return out;
  for (const auto& [key, value] : row.items()) {
    if (key == "step" || !value.is_number()) continue;  // is_number() is false for booleans
    const bool valid = key.rfind("val_", 0) == 0;
    out.push_back({valid ? "valid/" + key.substr(4) : "train/" + key, static_cast<float>(value.get<double>())});
  }
  return out;
}

std::int64_t step_of_row(const Json& row) {
  if (!row.is_object()) return 0;
  const auto it = row.find("step");
  if (it == row.end() || !it->is_number()) return 0;
  return it->is_number_float() ? static_cast<std::int64_t>(it->get<double>()) : it->get<std::int64_t>();
}

double wall_time_now() {
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration<double>(since_epoch).count();
}

}  // namespace tensorboard

TensorBoardWriter::TensorBoardWriter(std::string path) : path_(std::move(path)) {
  files::create_directories(files::parent(path_));
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw OutputError(path_, "cannot open the TensorBoard events file for appending: " + errno_text(errno));
}

TensorBoardWriter::~TensorBoardWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void TensorBoardWriter::append(const Json& row) { append(row, tensorboard::wall_time_now()); }

void TensorBoardWriter::append(const Json& row, double wall_time) {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw OutputError(path_, "cannot stat: " + errno_text(errno));
  std::string bytes;
  if (st.st_size == 0) bytes = tensorboard::frame_record(tensorboard::file_version_event(wall_time));
  bytes += tensorboard::frame_record(
      tensorboard::scalars_event(wall_time, tensorboard::step_of_row(row), tensorboard::scalars_of_row(row)));
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      // Leave whole records only: a torn record would end TensorBoard's reading of the file.
      if (::ftruncate(fd_, st.st_size) != 0) {
        log::warn("{}: could not remove a partly written event: {}", path_, errno_text(errno));
      }
      throw OutputError(path_, "cannot append a TensorBoard event: " + errno_text(err));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace distill::checkpoint
