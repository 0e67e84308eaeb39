// Data inputs as the user names them (files, globs, folders) expanded into the files to read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace distill::data {

// How a file is read (docs/data.md, "Input formats").
enum class InputFormat {
  kText,       // .txt: one document per line, or per blank-line separated paragraph
  kJsonLines,  // .jsonl: one JSON object per line
  kJson,       // .json: a JSON array of records (or strings), one object, or JSON lines
};

struct InputFile {
  std::string path;          // absolute, symlinks resolved
  InputFormat format = InputFormat::kText;
  std::int64_t size = 0;     // bytes
  std::int64_t mtime_ns = 0; // modification time, ns since the epoch
};

struct ExpandedInputs {
  std::vector<InputFile> files;       // raw inputs to tokenize, in the order given, without duplicates
  std::vector<std::string> datasets;  // already-tokenized dataset folders (absolute)
};

// "txt" / "jsonl" / "json".
const char* format_name(InputFormat format);

// True when `dir` is a tokenized dataset folder (it holds a meta.json written by distill tokenize).
bool is_dataset_dir(const std::string& dir);

// Expands each input in order:
//   - an existing file: .txt, .jsonl or .json (anything else is an InputError naming it);
//   - a folder: a tokenized dataset folder as a whole, else every .txt/.jsonl/.json file below it,
//     recursively, sorted by path (hidden names and tokenized dataset folders inside are skipped);
//   - a pattern with * ? or [ (glob(3)): its matches sorted, each expanded as above.
// A path that does not exist, a pattern that matches nothing, or a folder without data files is an
// InputError naming it.
ExpandedInputs expand_inputs(const std::vector<std::string>& inputs);

}  // namespace distill::data
