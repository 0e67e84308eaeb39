// The checkpoint folder format: round trip, folder names, and every kind of damage as InputError.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <functional>

#include "checkpoint_test_helpers.h"
#include "distill/checkpoint/checkpoint.h"
#include "distill/util/errors.h"
#include "distill/util/sha256.h"

namespace distill::testing {
namespace {

using checkpoint::Json;

std::string write_folder(const TempDir& dir, std::int64_t step, const Json& config = Json()) {
  const std::string folder = dir.file(checkpoint::step_folder_name(step));
  files::create_directories(folder);
  checkpoint::write_checkpoint_folder(folder, data_for_step(step), config, {{"metrics.jsonl", 1234}});
  return folder;
}

// The InputError of loading `folder`; fails the test when there is none.
InputError load_error(const std::string& folder) {
  try {
    checkpoint::load_checkpoint_folder(folder);
  } catch (const InputError& e) {
    return e;
  }
  ADD_FAILURE() << "loading " << folder << " succeeded";
  return InputError("", "");
}

TEST(CheckpointFolder, StepFolderNames) {
  EXPECT_EQ(checkpoint::step_folder_name(123), "step-00000123");
  EXPECT_EQ(checkpoint::step_folder_name(1234567890), "step-1234567890");
  EXPECT_EQ(checkpoint::parse_step_folder_name("step-00000123"), 123);
  EXPECT_EQ(checkpoint::parse_step_folder_name("step-1234567890"), 1234567890);
  EXPECT_EQ(checkpoint::parse_step_folder_name("step-00000000"), 0);
  for (const char* other : {"step-123", "step-000001234", "step-0000012a", ".tmp-step-00000001", "step-00000001/", "latest", ""}) {
    EXPECT_EQ(checkpoint::parse_step_folder_name(other), -1) << other;
  }
}

TEST(CheckpointFolder, RoundTripKeepsTensorsAndState) {
  TempDir dir;
  const Json config = {{"train", {{"max_steps", 10}, {"lr", 3e-5}}}, {"checkpoint", {{"dir", "runs/x"}}}};
  const std::string folder = write_folder(dir, 7, config);
  EXPECT_EQ(files::list_directory(folder), (std::vector<std::string>{"model.safetensors", "optimizer.safetensors", "state.json"}));

  const checkpoint::LoadedCheckpoint loaded = checkpoint::load_checkpoint_folder(folder);
  const checkpoint::CheckpointData saved = data_for_step(7);
  EXPECT_TRUE(holds_step(loaded, 7));
  for (const auto* group : {&saved.model, &saved.optimizer}) {
    const io::NamedTensors& back = group == &saved.model ? loaded.model : loaded.optimizer;
    for (const auto& [name, t] : *group) {
      const at::Tensor& b = tensor_named(back, name);
      EXPECT_EQ(b.scalar_type(), t.scalar_type()) << name;
      EXPECT_TRUE(b.equal(t)) << name;
    }
  }
  EXPECT_EQ(loaded.dir, folder);
  EXPECT_EQ(loaded.state.scheduler_step, 7);
  EXPECT_EQ(loaded.state.data_position, saved.state.data_position);
  EXPECT_EQ(loaded.state.loss_scaler, saved.state.loss_scaler);
  EXPECT_EQ(loaded.state.rng.cpu, saved.state.rng.cpu);
  EXPECT_EQ(loaded.config, config);
  EXPECT_EQ(loaded.config_sha256, sha256_hex(config.dump()));
  EXPECT_EQ(loaded.append_files, (std::map<std::string, std::int64_t>{{"metrics.jsonl", 1234}}));

  // state.json records each file's size and sha256, compared here with the files themselves.
  const Json state = Json::parse(read_file(files::join(folder, "state.json")));
  EXPECT_EQ(state.at("format").get<std::string>(), "distill-checkpoint");
  for (const char* name : {"model.safetensors", "optimizer.safetensors"}) {
    const std::string bytes = read_file(files::join(folder, name));
    EXPECT_EQ(state.at("files").at(name).at("bytes").get<std::int64_t>(), static_cast<std::int64_t>(bytes.size()));
    EXPECT_EQ(state.at("files").at(name).at("sha256").get<std::string>(), sha256_hex(bytes));
  }
}

TEST(CheckpointFolder, FlippedByteIsChecksumMismatchNamingTheFile) {
  TempDir dir;
  const std::string folder = write_folder(dir, 3);
  for (const char* name : {"model.safetensors", "optimizer.safetensors"}) {
    const std::string path = files::join(folder, name);
    const std::string good = read_file(path);
    flip_byte(path);
    const InputError e = load_error(folder);
    EXPECT_EQ(e.path(), path);
    EXPECT_CONTAINS(std::string(e.what()), "checksum mismatch");
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    write_file(path, good);
  }
  EXPECT_TRUE(holds_step(checkpoint::load_checkpoint_folder(folder), 3));
}

TEST(CheckpointFolder, MissingOrTruncatedFilesAreInputErrors) {
  TempDir dir;
  const std::string folder = write_folder(dir, 3);
  const std::string model = files::join(folder, "model.safetensors");
  const std::string good = read_file(model);
  write_file(model, good.substr(0, good.size() - 1));
  EXPECT_EQ(load_error(folder).path(), model);
  EXPECT_TRUE(checkpoint::incomplete_reason(folder).has_value());
  files::remove_file(model);
  EXPECT_CONTAINS(std::string(load_error(folder).what()), "is missing");
  write_file(model, good);
  EXPECT_FALSE(checkpoint::incomplete_reason(folder).has_value());
  files::remove_file(files::join(folder, "state.json"));
  EXPECT_EQ(load_error(folder).path(), files::join(folder, "state.json"));
  EXPECT_TRUE(checkpoint::incomplete_reason(folder).has_value());
}

TEST(CheckpointFolder, DamagedOrForeignStateJsonIsInputError) {
  TempDir dir;
  const std::string folder = write_folder(dir, 5, Json{{"a", 1}});
  const std::string state_path = files::join(folder, "state.json");
  const Json good = Json::parse(read_file(state_path));
  auto with = [&](const std::function<void(Json&)>& edit) {
    Json s = good;
    edit(s);
    write_file(state_path, s.dump());
    return std::string(load_error(folder).what());
  };
  write_file(state_path, "{\"format\": \"distill-checkpoint\", ");
  EXPECT_CONTAINS(std::string(load_error(folder).what()), "not valid JSON");
  EXPECT_CONTAINS(with([](Json& s) { s["format_version"] = 99; }), "newer distill");
  EXPECT_CONTAINS(with([](Json& s) { s["format"] = "something-else"; }), "not a distill checkpoint");
  EXPECT_CONTAINS(with([](Json& s) { s["step"] = 6; }), "records step 6 but sits in step-00000005");
  EXPECT_CONTAINS(with([](Json& s) { s["config"]["a"] = 2; }), "config_sha256");
  EXPECT_CONTAINS(with([](Json& s) { s["files"].erase("optimizer.safetensors"); }), "does not list optimizer.safetensors");
  EXPECT_CONTAINS(with([](Json& s) { s["files"]["../x"] = s["files"]["model.safetensors"]; }), "not a file name");
  EXPECT_CONTAINS(with([](Json& s) { s["rng"]["cpu"] = "not base64!"; }), "base64");
  write_file(state_path, good.dump());
  EXPECT_TRUE(holds_step(checkpoint::load_checkpoint_folder(folder), 5));
}

}  // namespace
}  // namespace distill::testing
