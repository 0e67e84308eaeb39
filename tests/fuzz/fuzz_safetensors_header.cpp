// libFuzzer target: parse_file on arbitrary bytes must return or throw distill::Error, nothing else.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "distill/io/safetensors_header.h"
#include "distill/util/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const distill::io::Header header = distill::io::parse_file(data, size, "fuzz.safetensors");
    // What a reader relies on: every tensor lies inside the data section, in order, without gaps.
    std::uint64_t covered = 0;
    for (const auto& t : header.tensors) {
      if (t.begin != covered || t.end < t.begin) std::abort();
      if (t.nbytes() != t.numel() * distill::io::dtype_size(t.dtype)) std::abort();
      covered = t.end;
    }
    if (header.data_offset + covered != size) std::abort();
  } catch (const distill::Error&) {
    // A clean rejection. Anything else (another exception type, a crash, a sanitizer report) is a bug.
  }
  return 0;
}
