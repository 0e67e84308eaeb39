// SHA-256 (FIPS 180-4) of byte strings and files: the checksums that guard checkpoints.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace distill {

// True when the CPU has SHA instructions (x86 SHA-NI), which Sha256 then uses (~10x faster).
bool sha256_hardware_available();

// Incremental hashing: update() any number of times, then hex_digest() once.
class Sha256 {
 public:
  // `use_hardware` false forces the portable code (tests compare both).
  explicit Sha256(bool use_hardware = true);
  void update(const void* data, std::size_t size);
  void update(std::string_view text) { update(text.data(), text.size()); }
  // 64 lowercase hex digits. Finishes the hash: call update() no more afterwards.
  std::string hex_digest();

 private:
  void compress(const std::uint8_t* blocks, std::size_t count);  // `count` 64-byte blocks
  bool hardware_;
  std::array<std::uint32_t, 8> state_;
  std::array<std::uint8_t, 64> buffer_{};
  std::size_t buffered_ = 0;
  std::uint64_t total_bytes_ = 0;
};

std::string sha256_hex(std::string_view bytes);
// Hash of a whole file, read in large blocks. Throws InputError naming the file when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace distill
