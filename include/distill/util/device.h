// Device selection shared by every subcommand: "auto" | "cpu" | "cuda" | "cuda:N".
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace distill {

// Parses and checks the device: "auto" is cuda:0 when a CUDA device is visible, else cpu.
// An unknown name or a CUDA device that is not there is a UsageError naming `what` (the flag or key).
c10::Device resolve_device(const std::string& name, const std::string& what);

}  // namespace distill
