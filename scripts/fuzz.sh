#!/usr/bin/env bash
# Builds the libFuzzer target for the safetensors header parser and runs it for a bounded time.
#
#   scripts/fuzz.sh                          # 30 s on a copy of tests/fuzz/corpus
#   DISTILL_FUZZ_SECONDS=600 scripts/fuzz.sh # longer
#   DISTILL_FUZZ_OPTIONAL=1 scripts/fuzz.sh  # exit 0 (with a note) where clang/libFuzzer is missing
#
# The target is built from the torch-free sources only (parser, dtype table, errors) with
# clang++ -fsanitize=fuzzer,address,undefined into $DISTILL_BUILD_DIR/fuzz (default build/fuzz).
# Exits non-zero when the fuzzer finds a crash, a sanitizer report or a leak; the reproducer is left
# in that folder (crash-*, leak-*, timeout-*): run the binary on it to see the report.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${DISTILL_BUILD_DIR:-build}
OUT="$BUILD_DIR/fuzz"
SECONDS_TO_RUN=${DISTILL_FUZZ_SECONDS:-30}
CXX=${DISTILL_FUZZ_CXX:-clang++}

say() { printf 'fuzz: %s\n' "$*" >&2; }
unavailable() {
  if [[ "${DISTILL_FUZZ_OPTIONAL:-0}" == 1 ]]; then
    say "skipped: $* (DISTILL_FUZZ_OPTIONAL=1)"
    exit 0
  fi
  say "cannot run: $*"
  say "install clang and libFuzzer (Debian: apt-get install clang libclang-rt-dev), or set DISTILL_FUZZ_OPTIONAL=1"
  exit 1
}

command -v "$CXX" >/dev/null 2>&1 || unavailable "$CXX not found"
mkdir -p "$OUT"
probe="$OUT/probe.cpp"
printf '#include <cstddef>\n#include <cstdint>\nextern "C" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t) { return 0; }\n' >"$probe"
"$CXX" -fsanitize=fuzzer,address,undefined "$probe" -o "$OUT/probe" >"$OUT/probe.log" 2>&1 \
  || unavailable "$CXX cannot link -fsanitize=fuzzer,address,undefined (libFuzzer runtime missing?): $(tail -n1 "$OUT/probe.log")"

bin="$OUT/fuzz_safetensors_header"
say "building $bin"
"$CXX" -std=c++17 -O1 -g -Wall -Wextra -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I include \
  tests/fuzz/fuzz_safetensors_header.cpp src/io/safetensors_header.cpp src/io/dtype.cpp src/util/errors.cpp \
  -o "$bin"

work=$(mktemp -d "${TMPDIR:-/tmp}/distill-fuzz-XXXXXX")
trap 'rm -rf "$work"' EXIT
cp tests/fuzz/corpus/* "$work/"
say "running for ${SECONDS_TO_RUN}s on a copy of tests/fuzz/corpus ($(ls "$work" | wc -l) inputs)"
set +e
"$bin" "$work" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -dict=tests/fuzz/safetensors.dict -artifact_prefix="$OUT/" -print_final_stats=1 >"$OUT/fuzz.log" 2>&1
rc=$?
set -e
grep -E "^Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb" "$OUT/fuzz.log" >&2 || true
if ((rc != 0)); then
  tail -n 40 "$OUT/fuzz.log" >&2
  say "FAILED (exit $rc); reproducer and log in $OUT/"
  exit "$rc"
fi
say "no crash in ${SECONDS_TO_RUN}s; corpus grew to $(ls "$work" | wc -l) inputs (full log: $OUT/fuzz.log)"
