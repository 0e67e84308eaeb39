#!/usr/bin/env bash
# Project rules that a compiler cannot check. Run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
# std::filesystem crashes in binaries linked with PyTorch's pip LibTorch (pytorch#133437): use util/files.h.
if hits=$(grep -rn --include='*.cpp' --include='*.h' -E '#include <filesystem>|std::filesystem' src include tests \
            | grep -v '^include/distill/util/files.h'); then
  echo "lint: std::filesystem is not allowed (use distill/util/files.h):"; echo "$hits"; fail=1
fi
# spdlog stays behind util/logging.cpp (its fmt clashes with the fmt LibTorch 2.x bundles).
if hits=$(grep -rln --include='*.cpp' --include='*.h' -E '#include <spdlog/|#include <fmt/' src include tests \
            | grep -v '^src/util/logging.cpp$'); then
  echo "lint: only src/util/logging.cpp may include spdlog or fmt:"; echo "$hits"; fail=1
fi
exit $fail
