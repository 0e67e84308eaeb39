#!/usr/bin/env bash
# Sets up, builds (Release, Ninja, every core) and runs every test: the CPU suite everywhere, the
# GPU-labelled tests too where distill sees a CUDA device, then a bounded fuzz run of the
# safetensors header parser. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${DISTILL_BUILD_DIR:-build}
JOBS=${DISTILL_JOBS:-$(nproc)}

scripts/lint.sh
scripts/setup.sh
cmake --build "$BUILD_DIR" --parallel "$JOBS"

labels=(-LE gpu)
if "$BUILD_DIR/distill" --version | grep -q "^CUDA devices: [1-9]"; then
  echo "test: CUDA device found: running the gpu-labelled tests too"
  labels=()
fi
ctest --test-dir "$BUILD_DIR" --output-on-failure --parallel "$JOBS" "${labels[@]}"

scripts/fuzz.sh
