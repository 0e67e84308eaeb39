// Export: read a verified checkpoint, rebuild the student from its original config.json, save it
// in HF layout with its tokenizer beside it, atomically.
#include "distill/checkpoint/export.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "distill/checkpoint/run_dir.h"
#include "distill/io/atomic_file.h"
#include "distill/models/loader.h"
#include "distill/models/registry.h"
#include "distill/tokenizer/tokenizer.h"
#include "distill/xtok/transplant.h"
#include "distill/util/errors.h"
#include "distill/util/files.h"
#include "distill/util/logging.h"

namespace distill::checkpoint {
namespace {

const char* const kSideFiles[] = {"tokenizer.json",  "tokenizer_config.json", "special_tokens_map.json",
                                  "tokenizer.model", "vocab.json",            "merges.txt",
                                  "added_tokens.json", "qwen.tiktoken",       "generation_config.json",
                                  nullptr};

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InputError(path, "cannot read");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// student.tokenizer, when the config names one outside the model folder, travels with the export
// under the name transformers looks for: a folder's tokenizer files, or one file by its kind.
void copy_configured_tokenizer(const nlohmann::json& student, const std::string& out_dir) {
  if (!student.contains("tokenizer") || !student["tokenizer"].is_string()) return;
  const std::string path = student["tokenizer"].get<std::string>();
  if (path.empty()) return;
  // OpenAI's GPT-2 files (encoder.json + vocab.bpe) are HF's vocab.json + merges.txt under other
  // names, byte for byte; transformers only looks for the latter.
  const auto copy_gpt2_pair = [&](const std::string& dir) {
    for (const auto& [vocab, merges] : {std::pair{"vocab.json", "merges.txt"}, std::pair{"encoder.json", "vocab.bpe"}}) {
      const std::string v = files::join(dir, vocab), m = files::join(dir, merges);
      if (!files::is_regular_file(v) || !files::is_regular_file(m)) continue;
      io::write_file_atomic(files::join(out_dir, "vocab.json"), read_all(v));
      io::write_file_atomic(files::join(out_dir, "merges.txt"), read_all(m));
      return true;
    }
    return false;
  };
  if (files::is_directory(path)) {
    for (const char* const* f = kSideFiles; *f; ++f) {
      const std::string src = files::join(path, *f);
      if (files::is_regular_file(src)) io::write_file_atomic(files::join(out_dir, *f), read_all(src));
    }
    if (!files::is_regular_file(files::join(path, "tokenizer.json"))) copy_gpt2_pair(path);
    return;
  }
  const std::string name = files::filename(path);
  if (name == "vocab.json" || name == "merges.txt" || name == "encoder.json" || name == "vocab.bpe") {
    if (!copy_gpt2_pair(files::parent(path))) {
      log::warn("export: student.tokenizer {} is not copied (the other file of the GPT-2 pair is missing)", path);
    }
    return;
  }
  auto ends_with = [&](const std::string& suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  std::string target;
  if (ends_with(".model")) target = "tokenizer.model";
  else if (ends_with(".tiktoken")) target = "qwen.tiktoken";
  else if (ends_with(".json")) target = "tokenizer.json";
  if (target.empty() || !files::is_regular_file(path)) {
    log::warn("export: student.tokenizer {} is not copied (not a tokenizer.json, .model or .tiktoken file)", path);
    return;
  }
  io::write_file_atomic(files::join(out_dir, target), read_all(path));
}

// loss.cross_tokenizer transplant: the student was trained with the teacher's vocabulary, so the
// export carries the teacher's tokenizer. Its path, or "" for any other run.
std::string transplanted_from(const nlohmann::json& config) {
  if (!config.contains("loss") || !config["loss"].is_object() || !config.contains("teacher") ||
      !config["teacher"].is_object()) {
    return "";
  }
  if (config["loss"].value("cross_tokenizer", std::string("none")) != "transplant") return "";
  if (config["loss"].value("kind", std::string()) == "ce" || config["loss"].value("alpha", 1.0) == 0.0) return "";
  const std::string tok = config["teacher"].value("tokenizer", std::string());
  return tok.empty() ? config["teacher"].value("path", std::string()) : tok;
}

// The number of vocabulary rows of the checkpoint's embedding.
std::int64_t embedding_rows(const LoadedCheckpoint& ckpt, const models::ModelSpec& spec) {
  for (const auto& rule : models::weight_rules(spec)) {
    if (rule.name != "embed.weight" || rule.hf_names.empty()) continue;
    const std::string& name = rule.hf_names.front();
    for (const auto& [key, tensor] : ckpt.model) {
      const bool match = key == name || (key.size() > name.size() && key.compare(key.size() - name.size(), name.size(), name) == 0) ||
                         (name.size() > key.size() && name.compare(name.size() - key.size(), key.size(), key) == 0);
      if (match && tensor.dim() == 2) return tensor.size(0);
    }
  }
  throw InputError(ckpt.dir, "has no token embedding to take the vocabulary size from");
}

}  // namespace

const char* const* exported_side_files() { return kSideFiles; }

void write_model_folder(models::CausalLMImpl& model, const std::string& out, const std::string& side_files_from,
                        const std::function<void(const std::string& dir)>& extra) {
  if (files::exists(out)) throw UsageError(out + ": already exists", "write into a new folder (distill never overwrites one)");
  // Write beside the target, then rename: the folder appears whole or not at all.
  const std::string tmp = files::join(files::parent(out), "." + files::filename(out) + ".tmp-" + std::to_string(::getpid()));
  files::remove_tree(tmp);
  try {
    models::save_model(model, tmp);
    for (const char* const* f = kSideFiles; *f && !side_files_from.empty(); ++f) {
      const std::string src = files::join(side_files_from, *f);
      if (files::is_regular_file(src)) io::write_file_atomic(files::join(tmp, *f), read_all(src));
    }
    if (extra) extra(tmp);
    if (!files::exists(files::join(tmp, "generation_config.json"))) {
      nlohmann::json gen = {{"_from_model_config", true}};
      for (const char* key : {"bos_token_id", "eos_token_id", "pad_token_id"}) {
        if (model.spec().hf_config.contains(key)) gen[key] = model.spec().hf_config[key];
      }
      io::write_file_atomic(files::join(tmp, "generation_config.json"), gen.dump(2) + "\n");
    }
    files::fsync_path(tmp);
    files::rename_path(tmp, out);
    files::fsync_path(files::parent(out));
  } catch (...) {
    files::remove_tree(tmp);
    throw;
  }
}

std::int64_t export_student(const std::string& run_dir, const std::string& out, const ExportOptions& options) {
  if (files::exists(out)) {
    throw UsageError(out + ": already exists", "export into a new folder (distill never overwrites an export)");
  }
  std::optional<LoadedCheckpoint> ckpt;
  if (options.step) {
    std::string folder;
    for (const auto& [step, dir] : list_step_folders(run_dir)) {
      if (step == *options.step) folder = dir;
    }
    if (folder.empty()) {
      throw InputError(run_dir, "has no checkpoint of step " + std::to_string(*options.step),
                       "list them with: ls " + files::join(run_dir, "checkpoints"));
    }
    ckpt = load_checkpoint_folder(folder);
  } else {
    ckpt = load_newest_checkpoint(run_dir);
    if (!ckpt) throw InputError(run_dir, "has no checkpoint to export", "train first: distill train --config ...");
  }
  if (!ckpt->config.is_object() || !ckpt->config.contains("student") || !ckpt->config["student"].contains("path")) {
    throw InputError(ckpt->dir, "the checkpoint's config names no student.path");
  }
  const std::string student_dir = ckpt->config["student"]["path"].get<std::string>();
  models::ModelSpec spec = models::read_spec(student_dir);
  const std::string teacher_tokenizer = transplanted_from(ckpt->config);
  if (!teacher_tokenizer.empty()) {
    const auto tok = tokenizer::load_tokenizer(teacher_tokenizer);
    spec = xtok::transplanted_spec(spec, embedding_rows(*ckpt, spec), tok->special_tokens());
    log::info("export: the student was transplanted to the teacher's vocabulary; the export carries {}",
              teacher_tokenizer);
  }
  const c10::ScalarType dtype = options.dtype.value_or(models::config_dtype(spec.hf_config));
  models::CausalLM model(spec, at::TensorOptions().dtype(dtype));
  models::load_weights(*model, ckpt->model, ckpt->dir);

  if (teacher_tokenizer.empty()) {
    write_model_folder(*model, out, student_dir,
                       [&](const std::string& dir) { copy_configured_tokenizer(ckpt->config["student"], dir); });
  } else {
    // The student's own tokenizer files describe a vocabulary it no longer has: only the teacher's go.
    write_model_folder(*model, out, /*side_files_from=*/"", [&](const std::string& dir) {
      copy_configured_tokenizer({{"tokenizer", teacher_tokenizer}}, dir);
    });
  }
  log::info("exported step {} of {} to {} ({}, {})", ckpt->state.step, run_dir, out, spec.architecture,
            models::dtype_label(dtype));
  return ckpt->state.step;
}

}  // namespace distill::checkpoint
