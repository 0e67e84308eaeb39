// SHA-256 against the FIPS 180-2 example vectors; base64 against RFC 4648's test vectors.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "distill/util/base64.h"
#include "distill/util/errors.h"
#include "distill/util/sha256.h"
#include "test_support.h"

namespace distill::testing {
namespace {

std::string hash(std::string_view text, bool hardware) {
  Sha256 h(hardware);
  h.update(text);
  return h.hex_digest();
}

// Both the portable code and, where the CPU has them, the SHA instructions.
TEST(Sha256, FipsExampleVectors) {
  for (bool hardware : {false, true}) {
    EXPECT_EQ(hash("abc", hardware), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(hash("", hardware), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    // 56 bytes: the padding needs a second block.
    EXPECT_EQ(hash("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", hardware),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    EXPECT_EQ(hash(std::string(1000000, 'a'), hardware), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  }
  std::printf("[          ] SHA instructions %s\n", sha256_hardware_available() ? "used" : "not available on this CPU");
}

TEST(Sha256, HardwareAndPortableAgreeOnVariedData) {
  std::string text;
  for (std::uint32_t i = 0; i < 100000; ++i) text += static_cast<char>((i * 2654435761u) >> 13);
  for (std::size_t n : {0u, 1u, 55u, 64u, 127u, 1000u, 100000u}) {
    EXPECT_EQ(hash(std::string_view(text).substr(0, n), true), hash(std::string_view(text).substr(0, n), false)) << n;
  }
}

TEST(Sha256, IncrementalUpdatesInOddPiecesMatchOneShot) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += static_cast<char>(i * 7 + 3);
  const std::string whole = sha256_hex(text);
  for (std::size_t piece : {1u, 3u, 63u, 64u, 65u, 200u}) {
    Sha256 h;
    for (std::size_t at = 0; at < text.size(); at += piece) h.update(std::string_view(text).substr(at, piece));
    EXPECT_EQ(h.hex_digest(), whole) << "pieces of " << piece;
  }
}

TEST(Sha256, FileHashEqualsHashOfItsBytesAndMissingFileIsInputError) {
  TempDir dir;
  write_file(dir.file("x.bin"), std::string(3 << 20, 'a') + "tail");
  EXPECT_EQ(sha256_file(dir.file("x.bin")), sha256_hex(std::string(3 << 20, 'a') + "tail"));
  try {
    sha256_file(dir.file("missing.bin"));
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.path(), dir.file("missing.bin"));
  }
}

TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    EXPECT_EQ(base64_decode(encoded), std::optional<std::string>(plain)) << encoded;
  }
}

TEST(Base64, AllByteValuesRoundTrip) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  for (std::size_t n : {254u, 255u, 256u}) EXPECT_EQ(base64_decode(base64_encode(bytes.substr(0, n))), bytes.substr(0, n));
}

TEST(Base64, RejectsWhatIsNotCanonicalPaddedBase64) {
  for (const char* bad : {"Zg=", "Zh==", "Zm9=", "Z===", "Zm9v!A==", "Zg==Zg==", "Zm=v", "Zg== "}) {
    EXPECT_EQ(base64_decode(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace distill::testing
