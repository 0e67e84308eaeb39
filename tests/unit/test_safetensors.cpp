// safetensors write/read: bit-exact round trips, metadata, alignment, zero-copy aliasing, copies.
#include <gtest/gtest.h>

#include <ATen/ops/arange.h>
#include <ATen/ops/complex.h>
#include <ATen/ops/zeros.h>

#include <cstring>
#include <filesystem>
#include <memory>

#include "distill/io/safetensors.h"
#include "distill/util/errors.h"
#include "safetensors_bytes.h"
#include "test_support.h"

namespace distill::testing {
namespace {

constexpr at::ScalarType kAllTypes[] = {at::kDouble, at::kFloat, at::kHalf, at::kBFloat16, at::kLong,
                                        at::kInt,    at::kShort, at::kChar, at::kByte,      at::kBool};

// A tensor of `type` whose bytes follow a fixed pattern (every byte value, NaN and inf bit patterns
// included for the float types); BOOL gets alternating 0/1.
at::Tensor patterned(at::ScalarType type, std::vector<std::int64_t> shape) {
  std::int64_t numel = 1;
  for (auto d : shape) numel *= d;
  if (type == at::kBool) return at::arange(numel).remainder(2).to(at::kBool).reshape(shape);
  const std::int64_t width = c10::elementSize(type);
  at::Tensor bytes = at::arange(numel * width).mul(37).add(11).remainder(256).to(at::kByte);
  return bytes.view(type).reshape(shape);
}

std::string bytes_of(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), static_cast<std::size_t>(c.numel() * c.element_size()));
}

void expect_same(const at::Tensor& expected, const at::Tensor& actual, const std::string& name) {
  EXPECT_EQ(actual.scalar_type(), expected.scalar_type()) << name;
  EXPECT_EQ(actual.sizes(), expected.sizes()) << name;
  EXPECT_TRUE(bytes_of(actual) == bytes_of(expected)) << name << ": bytes differ";
}

TEST(SafetensorsRoundTrip, EveryDtypeBitExact) {
  TempDir dir;
  io::NamedTensors tensors;
  for (auto type : kAllTypes) tensors.emplace_back(std::string("t.") + c10::toString(type), patterned(type, {3, 5}));
  const std::string path = dir.file("all.safetensors");
  io::save_file(path, tensors);
  auto file = io::SafetensorsFile::open(path);
  ASSERT_EQ(file->header().tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    ASSERT_NE(file->find(name), nullptr) << name;
    EXPECT_EQ(file->find(name)->dtype, io::to_dtype(t.scalar_type()));
    expect_same(t, file->tensor(name), name);
  }
}

TEST(SafetensorsRoundTrip, ScalarsAndZeroElementTensors) {
  TempDir dir;
  io::NamedTensors tensors;
  for (auto type : kAllTypes) {
    const std::string n = c10::toString(type);
    tensors.emplace_back("scalar." + n, patterned(type, {}));
    tensors.emplace_back("empty." + n, patterned(type, {0, 4}));
    tensors.emplace_back("empty3d." + n, patterned(type, {2, 0, 3}));
  }
  const std::string path = dir.file("edge.safetensors");
  io::save_file(path, tensors);
  auto file = io::SafetensorsFile::open(path);
  for (const auto& [name, t] : tensors) expect_same(t, file->tensor(name), name);
  EXPECT_EQ(file->tensor("scalar.Float").dim(), 0);
  EXPECT_EQ(file->find("empty.Float")->nbytes(), 0u);
}

TEST(SafetensorsRoundTrip, NonContiguousInputIsWrittenInLogicalOrder) {
  TempDir dir;
  const at::Tensor base = patterned(at::kFloat, {4, 6});
  const at::Tensor transposed = base.t();                                // (6, 4), strides (1, 6)
  const at::Tensor strided = base.slice(1, 0, 6, 2);                     // (4, 3), every other column
  const at::Tensor bf16 = patterned(at::kBFloat16, {5, 2}).t();          // (2, 5)
  ASSERT_FALSE(transposed.is_contiguous());
  ASSERT_FALSE(strided.is_contiguous());
  const std::string path = dir.file("nc.safetensors");
  io::save_file(path, {{"transposed", transposed}, {"strided", strided}, {"bf16", bf16}});
  auto file = io::SafetensorsFile::open(path);
  expect_same(transposed.contiguous(), file->tensor("transposed"), "transposed");
  expect_same(strided.contiguous(), file->tensor("strided"), "strided");
  expect_same(bf16.contiguous(), file->tensor("bf16"), "bf16");
  EXPECT_EQ(file->tensor("transposed")[1][0].item<float>(), base[0][1].item<float>());
}

TEST(SafetensorsRoundTrip, Metadata) {
  TempDir dir;
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"}, {"empty", ""}, {"unicode", "d\xc3\xa9j\xc3\xa0 vu \xe2\x9c\x93"}, {"json", "{\"a\": [1, 2]}"}};
  const std::string path = dir.file("meta.safetensors");
  io::save_file(path, {{"w", patterned(at::kFloat, {2})}}, metadata);
  EXPECT_EQ(io::SafetensorsFile::open(path)->metadata(), metadata);

  const std::string bare = dir.file("bare.safetensors");
  io::save_file(bare, {{"w", patterned(at::kFloat, {2})}});
  EXPECT_TRUE(io::SafetensorsFile::open(bare)->metadata().empty());
  EXPECT_EQ(read_file(bare).find("__metadata__"), std::string::npos);
}

// Checked on the raw bytes: the data section starts at a multiple of 8 (header padded with spaces)
// and every tensor sits at an offset aligned for its type.
TEST(SafetensorsRoundTrip, HeaderPaddedAndTensorsAligned) {
  TempDir dir;
  const std::string path = dir.file("align.safetensors");
  io::save_file(path, {{"flag", patterned(at::kBool, {3})},
                       {"half", patterned(at::kHalf, {3})},
                       {"wide", patterned(at::kDouble, {3})},
                       {"int", patterned(at::kInt, {1})}});
  const std::string raw = read_file(path);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(raw[static_cast<std::size_t>(i)]);
  EXPECT_EQ((8 + n) % 8, 0u);
  const std::string header = raw.substr(8, n);
  EXPECT_EQ(header.front(), '{');
  const auto close = header.find_last_of('}');
  EXPECT_EQ(header.find_first_not_of(' ', close + 1), std::string::npos) << "padding must be spaces: " << header;
  auto file = io::SafetensorsFile::open(path);
  for (const auto& info : file->header().tensors) {
    EXPECT_EQ((file->header().data_offset + info.begin) % io::dtype_size(info.dtype), 0u) << info.name;
  }
}

TEST(SafetensorsRoundTrip, TensorsListedOutOfOffsetOrderAreFine) {
  TempDir dir;
  const std::string path = dir.file("order.safetensors");
  write_file(path, safetensors_bytes(R"({"z": {"dtype": "U8", "shape": [2], "data_offsets": [3, 5]},)"
                                     R"( "a": {"dtype": "U8", "shape": [3], "data_offsets": [0, 3]}})",
                                     "\x01\x02\x03\x04\x05"));
  auto file = io::SafetensorsFile::open(path);
  ASSERT_EQ(file->header().tensors.size(), 2u);
  EXPECT_EQ(file->header().tensors[0].name, "a");  // sorted by offset
  EXPECT_EQ(file->tensor("z")[1].item<std::uint8_t>(), 5);
}

TEST(SafetensorsZeroCopy, AlignedTensorAliasesTheMapping) {
  TempDir dir;
  const std::string path = dir.file("zc.safetensors");
  io::save_file(path, {{"w", patterned(at::kFloat, {8, 8})}, {"b", patterned(at::kBFloat16, {5})}});
  auto file = io::SafetensorsFile::open(path);
  for (const char* name : {"w", "b"}) {
    const at::Tensor t = file->tensor(name);
    EXPECT_EQ(t.data_ptr(), static_cast<const void*>(file->bytes(*file->find(name)))) << name;
  }
}

TEST(SafetensorsZeroCopy, TensorKeepsTheFileAlive) {
  TempDir dir;
  const std::string path = dir.file("alive.safetensors");
  const at::Tensor original = patterned(at::kFloat, {16});
  io::save_file(path, {{"w", original}});
  auto file = io::SafetensorsFile::open(path);
  std::weak_ptr<io::SafetensorsFile> weak = file;
  at::Tensor t = file->tensor("w");
  file.reset();
  EXPECT_FALSE(weak.expired());
  expect_same(original, t, "w");  // still readable: the mapping is alive
  t = at::Tensor();
  EXPECT_TRUE(weak.expired());
}

TEST(SafetensorsZeroCopy, WritingIntoATensorLeavesTheFileUnchanged) {
  TempDir dir;
  const std::string path = dir.file("cow.safetensors");
  const at::Tensor original = patterned(at::kFloat, {4, 4});
  io::save_file(path, {{"w", original}});
  const std::string before = read_file(path);
  {
    auto file = io::SafetensorsFile::open(path);
    at::Tensor t = file->tensor("w");
    ASSERT_EQ(t.data_ptr(), static_cast<const void*>(file->bytes(*file->find("w"))));
    t.fill_(42.0);  // a private mapping: no segfault, no write-through
    EXPECT_EQ(t[3][3].item<float>(), 42.0f);
  }
  EXPECT_TRUE(read_file(path) == before);
  expect_same(original, io::SafetensorsFile::open(path)->tensor("w"), "w");
}

TEST(SafetensorsZeroCopy, MisalignedTensorIsCopied) {
  TempDir dir;
  const std::string path = dir.file("misaligned.safetensors");
  // "w" (F32) starts 3 bytes into an 8-aligned data section, so it cannot be aliased.
  std::string header = R"({"flag": {"dtype": "BOOL", "shape": [3], "data_offsets": [0, 3]},)"
                       R"( "w": {"dtype": "F32", "shape": [2], "data_offsets": [3, 11]}})";
  header.append((8 - (8 + header.size()) % 8) % 8, ' ');
  const float values[2] = {1.5f, -2.25f};
  std::string data("\x01\x00\x01", 3);
  data.append(reinterpret_cast<const char*>(values), sizeof values);
  write_file(path, safetensors_bytes(header, data));
  auto file = io::SafetensorsFile::open(path);
  ASSERT_EQ(file->header().data_offset % 8, 0u);
  const at::Tensor w = file->tensor("w");
  EXPECT_NE(w.data_ptr(), static_cast<const void*>(file->bytes(*file->find("w"))));
  EXPECT_EQ(w[0].item<float>(), 1.5f);
  EXPECT_EQ(w[1].item<float>(), -2.25f);
  EXPECT_TRUE(file->tensor("flag")[1].item<bool>() == false);
}

TEST(SafetensorsWrite, OverwriteReplacesTheFile) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  io::save_file(path, {{"old", patterned(at::kFloat, {2})}});
  io::save_file(path, {{"new", patterned(at::kInt, {3})}});
  auto file = io::SafetensorsFile::open(path);
  EXPECT_EQ(file->find("old"), nullptr);
  expect_same(patterned(at::kInt, {3}), file->tensor("new"), "new");
}

TEST(SafetensorsWrite, BadRequestsAreErrorsAndWriteNothing) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  const at::Tensor w = patterned(at::kFloat, {2});
  EXPECT_THROW(io::save_file(path, {{"w", w}, {"w", w}}), OutputError);
  EXPECT_THROW(io::save_file(path, {{"__metadata__", w}}), OutputError);
  EXPECT_THROW(io::save_file(path, {{"c", at::complex(w, w)}}), UsageError);
  EXPECT_FALSE(std::filesystem::exists(path));
  try {
    io::save_file(dir.file("no/such/dir/x.safetensors"), {{"w", w}});
    ADD_FAILURE() << "wrote into a missing directory";
  } catch (const OutputError& e) {
    EXPECT_NE(std::string(e.what()).find("no/such/dir/x.safetensors"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos) << e.what();
  }
}

TEST(SafetensorsDtype, MappingIsABijection) {
  for (auto type : kAllTypes) EXPECT_EQ(io::to_scalar_type(io::to_dtype(type)), type);
  EXPECT_EQ(io::parse_dtype("BF16"), io::DType::kBF16);
  EXPECT_EQ(io::dtype_size(io::DType::kBF16), 2u);
  EXPECT_FALSE(io::parse_dtype("F8_E4M3").has_value());
  EXPECT_FALSE(io::parse_dtype("f32").has_value());
  EXPECT_THROW(io::to_dtype(at::kComplexFloat), UsageError);
}

}  // namespace
}  // namespace distill::testing
