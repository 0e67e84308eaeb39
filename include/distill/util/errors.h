// Typed errors with documented exit codes (docs/exit-codes.md); main() catches them once.
#pragma once

#include <stdexcept>
#include <string>

namespace distill {

// Process exit codes. Keep in sync with docs/exit-codes.md.
enum class ExitCode : int {
  kOk = 0,
  kInternal = 1,     // a bug, or a failure with no better category (also: a run stopped on non-finite losses)
  kUsage = 2,        // bad command line or config (unknown key, wrong type, out of range, not built yet)
  kBadInput = 3,     // a model, tokenizer, data or safetensors file that cannot be used
  kOutOfMemory = 4,  // host or device memory exhausted
  kInterrupted = 5,  // SIGINT/SIGTERM received; a checkpoint was saved
  kLocked = 6,       // another run holds the run directory's lock
};

// Base class: a message for the user, an optional hint saying what to do, and the exit code.
class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message, std::string hint = {})
      : std::runtime_error(message), code_(code), hint_(std::move(hint)) {}
  ExitCode code() const { return code_; }
  const std::string& hint() const { return hint_; }

 private:
  ExitCode code_;
  std::string hint_;
};

// Command-line and config errors (exit 2).
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message, std::string hint = {})
      : Error(ExitCode::kUsage, message, std::move(hint)) {}
};

// A file the user gave us (model, tokenizer, data, safetensors) cannot be used (exit 3).
// The message names the file; `path()` keeps it for callers that add context.
class InputError : public Error {
 public:
  InputError(std::string path, const std::string& message, std::string hint = {})
      : Error(ExitCode::kBadInput, path.empty() ? message : path + ": " + message, std::move(hint)),
        path_(std::move(path)) {}
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Writing output failed (disk full, permission denied). Exit 3 is not right for our own output,
// so this is reported as an internal/environment failure (exit 1) with the path and errno text.
class OutputError : public Error {
 public:
  OutputError(const std::string& path, const std::string& message, std::string hint = {})
      : Error(ExitCode::kInternal, path + ": " + message, std::move(hint)) {}
};

class OutOfMemoryError : public Error {
 public:
  explicit OutOfMemoryError(const std::string& message, std::string hint = {})
      : Error(ExitCode::kOutOfMemory, message, std::move(hint)) {}
};

class InterruptedError : public Error {
 public:
  explicit InterruptedError(const std::string& message, std::string hint = {})
      : Error(ExitCode::kInterrupted, message, std::move(hint)) {}
};

class LockedError : public Error {
 public:
  explicit LockedError(const std::string& message, std::string hint = {})
      : Error(ExitCode::kLocked, message, std::move(hint)) {}
};

// "errno text" for messages: strerror without the thread-safety caveats.
std::string errno_text(int err);

}  // namespace distill
