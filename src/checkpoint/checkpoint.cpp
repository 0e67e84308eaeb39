// The checkpoint folder format: two safetensors files and state.json with sizes and checksums.
#include "distill/checkpoint/checkpoint.h"

#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>

#include "distill/io/atomic_file.h"
#include "distill/util/errors.h"
#include "distill/util/files.h"
#include "distill/util/sha256.h"

namespace distill::checkpoint {
namespace {

constexpr const char* kFormatName = "distill-checkpoint";
constexpr const char* kDamagedHint =
    "the checkpoint is damaged (disk error, or edited by hand); an earlier checkpoint of the run can "
    "be used instead (distill falls back to it on resume)";

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Json read_state(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, files::exists(path) ? "cannot be read" : "is missing", kDamagedHint);
  std::ostringstream text;
  text << in.rdbuf();
  Json state;
  try {
    state = Json::parse(text.str());
  } catch (const Json::exception& e) {
    throw InputError(path, std::string("is not valid JSON: ") + e.what(), kDamagedHint);
  }
  if (!state.is_object()) throw InputError(path, "is not a JSON object", kDamagedHint);
  const auto format = state.find("format");
  if (format == state.end() || !format->is_string() || format->get<std::string>() != kFormatName) {
    throw InputError(path, std::string("is not a distill checkpoint state (\"format\" is not \"") + kFormatName + "\")");
  }
  const auto version = state.find("format_version");
  if (version == state.end() || !version->is_number_integer()) {
    throw InputError(path, "has no integer \"format_version\"", kDamagedHint);
  }
  if (version->get<int>() > kFormatVersion) {
    throw InputError(path, "was written by a newer distill (checkpoint format " + version->dump() + ", this one reads up to " +
                               std::to_string(kFormatVersion) + ")",
                     "resume with the distill version that wrote it");
  }
  return state;
}

std::int64_t integer_at(const Json& obj, const std::string& key, const std::string& path) {
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_integer()) {
    throw InputError(path, "\"" + key + "\" is missing or not an integer", kDamagedHint);
  }
  return it->get<std::int64_t>();
}

struct FileRecord {
  std::string name;
  std::int64_t bytes = 0;
  std::string sha256;
};

// The "files" table, checked for shape; both tensor files must be listed.
std::vector<FileRecord> file_records(const Json& state, const std::string& state_path) {
  const auto it = state.find("files");
  if (it == state.end() || !it->is_object()) throw InputError(state_path, "has no \"files\" object", kDamagedHint);
  std::vector<FileRecord> records;
  for (const auto& [name, entry] : it->items()) {
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
      throw InputError(state_path, "\"files\" lists \"" + name + "\", which is not a file name in the checkpoint folder", kDamagedHint);
    }
    if (!entry.is_object() || !entry.contains("sha256") || !entry.at("sha256").is_string()) {
      throw InputError(state_path, "\"files\".\"" + name + "\" needs \"bytes\" and \"sha256\"", kDamagedHint);
    }
    records.push_back({name, integer_at(entry, "bytes", state_path), entry.at("sha256").get<std::string>()});
  }
  for (const char* required : {kModelFile, kOptimizerFile}) {
    if (!it->contains(required)) throw InputError(state_path, std::string("\"files\" does not list ") + required, kDamagedHint);
  }
  return records;
}

io::NamedTensors read_tensors(const std::string& path) {
  const auto file = io::SafetensorsFile::open(path);
  io::NamedTensors tensors;
  for (const io::TensorInfo& info : file->header().tensors) tensors.emplace_back(info.name, file->tensor(info.name));
  return tensors;
}

}  // namespace

std::string step_folder_name(std::int64_t step) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return buf;
}

std::int64_t parse_step_folder_name(const std::string& name) {
  constexpr std::size_t kPrefix = 5;  // "step-"
  if (name.size() < kPrefix + 8 || name.size() > kPrefix + 18 || name.compare(0, kPrefix, "step-") != 0) return -1;
  std::int64_t step = 0;
  for (std::size_t i = kPrefix; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    step = step * 10 + (name[i] - '0');
  }
  return step_folder_name(step) == name ? step : -1;  // one spelling per step
}

std::string config_sha256(const Json& config) { return sha256_hex(config.dump()); }

void write_checkpoint_folder(const std::string& dir, const CheckpointData& data, const Json& config,
                             const std::map<std::string, std::int64_t>& append_files) {
  const TrainingState& s = data.state;
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"distill_step", std::to_string(s.step)}};
  Json files_json = Json::object();
  for (const auto& [name, tensors] : {std::pair{kModelFile, &data.model}, std::pair{kOptimizerFile, &data.optimizer}}) {
    const std::string path = files::join(dir, name);
    io::save_file(path, *tensors, metadata);
    // Hashing what was written (read back through the page cache) rather than what was meant to be.
    std::string digest;
    try {
      digest = sha256_file(path);
    } catch (const InputError& e) {
      throw OutputError(path, std::string("cannot read back to checksum it: ") + e.what());
    }
    files_json[name] = {{"bytes", files::file_size(path)}, {"sha256", digest}};
  }
  Json state = {
      {"format", kFormatName},
      {"format_version", kFormatVersion},
      {"step", s.step},
      {"scheduler_step", s.scheduler_step},
      {"data_position", s.data_position},
      {"loss_scaler", s.loss_scaler},
      {"trainer", s.trainer},
      {"rng", rng_states_to_json(s.rng.cpu.empty() ? capture_rng_states() : s.rng)},
      {"config_sha256", config_sha256(config)},
      {"config", config},
      {"append_files", append_files},
      {"files", files_json},
      {"saved_at", utc_now()},
      {"distill_version", DISTILL_VERSION},
  };
  io::write_file_atomic(files::join(dir, kStateFile), state.dump(2) + "\n");
  files::fsync_path(dir);
}

std::optional<std::string> incomplete_reason(const std::string& dir) {
  try {
    const std::string state_path = files::join(dir, kStateFile);
    const Json state = read_state(state_path);
    for (const FileRecord& r : file_records(state, state_path)) {
      const std::string path = files::join(dir, r.name);
      const std::int64_t size = files::file_size(path);
      if (size < 0) return path + " is missing";
      if (size != r.bytes) return path + " has " + std::to_string(size) + " bytes, state.json records " + std::to_string(r.bytes);
    }
    return std::nullopt;
  } catch (const InputError& e) {
    return std::string(e.what());
  }
}

LoadedCheckpoint load_checkpoint_folder(const std::string& dir) {
  const std::string state_path = files::join(dir, kStateFile);
  const Json state = read_state(state_path);
  LoadedCheckpoint out;
  out.dir = dir;
  TrainingState& s = out.state;
  s.step = integer_at(state, "step", state_path);
  const std::int64_t folder_step = parse_step_folder_name(files::filename(dir));
  if (folder_step >= 0 && folder_step != s.step) {
    throw InputError(state_path, "records step " + std::to_string(s.step) + " but sits in " + files::filename(dir), kDamagedHint);
  }
  for (const FileRecord& r : file_records(state, state_path)) {
    const std::string path = files::join(dir, r.name);
    const std::int64_t size = files::file_size(path);
    if (size < 0) throw InputError(path, "is missing (state.json lists it)", kDamagedHint);
    if (size != r.bytes) {
      throw InputError(path, "has " + std::to_string(size) + " bytes; state.json records " + std::to_string(r.bytes), kDamagedHint);
    }
    const std::string digest = sha256_file(path);
    if (digest != r.sha256) {
      throw InputError(path, "checksum mismatch: sha256 is " + digest + ", state.json records " + r.sha256, kDamagedHint);
    }
  }
  s.scheduler_step = integer_at(state, "scheduler_step", state_path);
  s.data_position = state.value("data_position", Json::object());
  s.loss_scaler = state.value("loss_scaler", Json::object());
  s.trainer = state.value("trainer", Json::object());
  s.rng = rng_states_from_json(state.value("rng", Json()), state_path);
  out.config = state.value("config", Json());
  const auto hash = state.find("config_sha256");
  out.config_sha256 = hash != state.end() && hash->is_string() ? hash->get<std::string>() : "";
  if (out.config_sha256 != config_sha256(out.config)) {
    throw InputError(state_path, "\"config_sha256\" does not match its \"config\"", kDamagedHint);
  }
  if (const auto it = state.find("append_files"); it != state.end() && it->is_object()) {
    for (const auto& [name, size] : it->items()) {
      if (size.is_number_integer()) out.append_files[name] = size.get<std::int64_t>();
    }
  }
  out.model = read_tensors(files::join(dir, kModelFile));
  out.optimizer = read_tensors(files::join(dir, kOptimizerFile));
  return out;
}

}  // namespace distill::checkpoint
