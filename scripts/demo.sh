#!/usr/bin/env bash
# Sets up, builds, and runs distill's main job on the built-in tiny default.
# Until `distill train` lands (issue #5) the main job is the model path end to end on the tiny
# fixtures: inspect a model folder, run it (`distill forward`) and check its logits against the
# ones HF transformers computed for the same weights.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${DISTILL_BUILD_DIR:-build}
scripts/setup.sh
cmake --build "$BUILD_DIR" --parallel "${DISTILL_JOBS:-$(nproc)}" --target distill
BIN="$BUILD_DIR/distill"
MODEL=tests/data/models/qwen2
GOLDEN=tests/data/golden/qwen2.safetensors
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== distill --version"
"$BIN" --version
echo
echo "== distill inspect $MODEL"
"$BIN" inspect "$MODEL"
echo
echo "== distill forward (tiny Qwen2, input from $GOLDEN)"
"$BIN" forward --model "$MODEL" --input "$GOLDEN" --output "$out/logits.safetensors"
"$BIN" inspect "$out/logits.safetensors"
echo
echo "== next: distill train --config configs/tiny_smoke.json --dry-run"
"$BIN" train --config configs/tiny_smoke.json --dry-run | head -n 20
echo "..."
