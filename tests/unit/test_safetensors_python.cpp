// Reads the fixture written by Python's `safetensors` package and compares it with Python's own account.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "distill/io/safetensors.h"
#include "test_support.h"

namespace distill::testing {
namespace {

std::string hex_of(const at::Tensor& t) {
  static const char* digits = "0123456789abcdef";
  const at::Tensor c = t.contiguous();
  const auto* p = static_cast<const unsigned char*>(c.data_ptr());
  std::string out;
  for (std::int64_t i = 0; i < c.numel() * static_cast<std::int64_t>(c.element_size()); ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

// Python's value (a number, a bool, or "nan"/"inf"/"-inf") against ours, exactly.
void expect_value(const nlohmann::json& want, const at::Tensor& flat, std::int64_t i, const std::string& name) {
  const std::string where = name + "[" + std::to_string(i) + "]";
  if (flat.scalar_type() == at::kBool) {
    EXPECT_EQ(flat[i].item<bool>(), want.get<bool>()) << where;
  } else if (c10::isIntegralType(flat.scalar_type(), /*includeBool=*/false)) {
    EXPECT_EQ(flat[i].item<std::int64_t>(), want.get<std::int64_t>()) << where;
  } else {
    const double got = flat[i].item<double>();
    if (want.is_string()) {
      const std::string s = want.get<std::string>();
      if (s == "nan") EXPECT_TRUE(std::isnan(got)) << where;
      else EXPECT_EQ(got, s == "inf" ? INFINITY : -INFINITY) << where;
    } else {
      const double w = want.get<double>();
      EXPECT_EQ(got, w) << where;
      EXPECT_EQ(std::signbit(got), std::signbit(w)) << where;  // -0.0 stays -0.0
    }
  }
}

// The fixture is made on the GPU machine (scripts/make_safetensors_fixture.py). Until it is
// committed this test fails on purpose: a missing fixture must not look like a pass.
TEST(SafetensorsPython, ReadsAFileWrittenByThePythonPackage) {
  const std::string st_path = data_path("safetensors/python_written.safetensors");
  const std::string json_path = data_path("safetensors/python_written.json");
  ASSERT_TRUE(std::filesystem::exists(st_path) && std::filesystem::exists(json_path))
      << "missing " << st_path << " or " << json_path
      << ": run `python3 scripts/make_safetensors_fixture.py` where torch and safetensors are installed, and commit both";

  const auto expected = nlohmann::json::parse(read_file(json_path));
  auto file = io::SafetensorsFile::open(st_path);
  EXPECT_EQ(nlohmann::json(file->metadata()), expected["metadata"]);
  ASSERT_EQ(file->header().tensors.size(), expected["tensors"].size());
  for (const auto& [name, want] : expected["tensors"].items()) {
    SCOPED_TRACE(name);
    ASSERT_NE(file->find(name), nullptr);
    EXPECT_EQ(io::dtype_name(file->find(name)->dtype), want["dtype"].get<std::string>());
    const at::Tensor t = file->tensor(name);
    EXPECT_EQ(t.sizes().vec(), want["shape"].get<std::vector<std::int64_t>>());
    EXPECT_EQ(hex_of(t), want["hex"].get<std::string>());
    const at::Tensor flat = t.reshape({-1});
    ASSERT_EQ(flat.numel(), static_cast<std::int64_t>(want["values"].size()));
    for (std::int64_t i = 0; i < flat.numel(); ++i) expect_value(want["values"][static_cast<std::size_t>(i)], flat, i, name);
  }
}

}  // namespace
}  // namespace distill::testing
