// Input expansion: files, globs (glob(3)) and folders (recursive, sorted) -> data files and datasets.
#include "distill/data/sources.h"

#include <glob.h>
#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <set>


#include "distill/util/errors.h"
#include "distill/util/files.h"
#include "distill/util/logging.h"

namespace distill::data {
namespace {

bool has_glob_chars(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

bool data_extension(const std::string& path, InputFormat* format) {
  const std::string ext = files::extension(path);
  if (ext == ".txt") *format = InputFormat::kText;
  else if (ext == ".jsonl") *format = InputFormat::kJsonLines;
  else if (ext == ".json") *format = InputFormat::kJson;
  else return false;
  return true;
}

std::string real_path(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf)) return buf;
  return path;
}

class Expander {
 public:
  ExpandedInputs result;

  void input(const std::string& given) {
    if (files::exists(given)) {
      path(given, given, /*explicit_file=*/true);
      return;
    }
    if (!has_glob_chars(given)) {
      throw InputError(given, "no such file or folder", "data inputs are .txt/.jsonl/.json files, globs or folders");
    }
    glob_t g{};
    const int rc = ::glob(given.c_str(), 0, nullptr, &g);
    std::vector<std::string> matches;
    if (rc == 0) {
      for (std::size_t i = 0; i < g.gl_pathc; ++i) matches.emplace_back(g.gl_pathv[i]);
    }
    ::globfree(&g);
    if (matches.empty()) throw InputError(given, "the pattern matches no file", "check the glob (quote it in a shell)");
    for (const auto& m : matches) path(m, given, /*explicit_file=*/false);  // glob(3) sorts
  }

 private:
  std::set<std::string> seen_;

  void path(const std::string& p, const std::string& given, bool explicit_file) {
    if (files::is_directory(p)) {
      if (is_dataset_dir(p)) {
        add_dataset(p);
        return;
      }
      const std::size_t before = result.files.size();
      walk(p);
      if (result.files.size() == before && explicit_file) {
        throw InputError(p, "folder holds no .txt, .jsonl or .json files", "point data inputs at data files or folders");
      }
      return;
    }
    InputFormat format;
    if (!data_extension(p, &format)) {
      if (explicit_file || given == p) {
        throw InputError(p, "unknown data format '" + files::extension(p) + "'",
                         "data files are .txt (text), .jsonl (JSON lines) or .json");
      }
      log::debug("data: skipping {} (not .txt, .jsonl or .json)", p);
      return;
    }
    add_file(p, format);
  }

  void walk(const std::string& dir) {
    for (const auto& name : files::list_directory(dir)) {
      if (name.empty() || name[0] == '.') continue;
      const std::string child = files::join(dir, name);
      if (files::is_directory(child)) {
        if (is_dataset_dir(child)) {
          log::warn("data: skipping tokenized dataset folder {} inside {} (list it on its own to use it)", child, dir);
          continue;
        }
        walk(child);
        continue;
      }
      InputFormat format;
      if (files::is_regular_file(child) && data_extension(child, &format)) add_file(child, format);
    }
  }

  void add_file(const std::string& p, InputFormat format) {
    const std::string abs = real_path(p);
    if (!seen_.insert(abs).second) return;
    struct stat st;
    if (::stat(abs.c_str(), &st) != 0) throw InputError(p, "cannot stat: " + errno_text(errno));
    if (!S_ISREG(st.st_mode)) throw InputError(p, "not a regular file");
    InputFile f;
    f.path = abs;
    f.format = format;
    f.size = static_cast<std::int64_t>(st.st_size);
    f.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
    result.files.push_back(std::move(f));
  }

  void add_dataset(const std::string& p) {
    const std::string abs = real_path(p);
    if (seen_.insert(abs).second) result.datasets.push_back(abs);
  }
};

}  // namespace

const char* format_name(InputFormat format) {
  switch (format) {
    case InputFormat::kText: return "txt";
    case InputFormat::kJsonLines: return "jsonl";
    case InputFormat::kJson: return "json";
  }
  return "?";
}

bool is_dataset_dir(const std::string& dir) {
  const std::string meta = files::join(dir, "meta.json");
  if (!files::is_regular_file(meta)) return false;
  // A small read: the format marker is among the first keys distill writes.
  FILE* f = std::fopen(meta.c_str(), "rb");
  if (!f) return false;
  char buf[256];
  const std::size_t n = std::fread(buf, 1, sizeof buf, f);
  std::fclose(f);
  return std::string(buf, n).find("\"distill-tokens\"") != std::string::npos;
}

ExpandedInputs expand_inputs(const std::vector<std::string>& inputs) {
  Expander e;
  for (const auto& input : inputs) e.input(input);
  return e.result;
}

}  // namespace distill::data
