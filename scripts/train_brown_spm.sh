#!/usr/bin/env bash
# Trains the small SentencePiece model the tokenizer tests use (unigram, 2,000 pieces, byte fallback)
# on the Brown corpus with Debian's spm_train, writing tests/data/tokenizers/brown_unigram.model.
#
#   apt-get install sentencepiece      # spm_train
#   scripts/fetch_test_data.sh && scripts/train_brown_spm.sh
#
# One thread and no input sampling keep the result reproducible; the model is committed, so this
# only runs again when the recipe changes.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v spm_train >/dev/null || { echo "train_brown_spm: spm_train not found (apt-get install sentencepiece)" >&2; exit 1; }
# A fixed relative work folder: the trainer records its input/output paths inside the model.
work=.testdata/spm-train
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
python3 - "$work/brown.txt" <<'PY'
import sys
sys.path.insert(0, "scripts")
import tokenizer_corpora
with open(sys.argv[1], "w", encoding="utf-8") as out:
    for sentence in tokenizer_corpora.brown_sentences(".testdata/brown"):
        out.write(sentence + "\n")
PY
spm_train --input="$work/brown.txt" --model_prefix="$work/brown_unigram" --model_type=unigram \
  --vocab_size=2000 --character_coverage=1.0 --byte_fallback=true --num_threads=1 \
  --input_sentence_size=0 --shuffle_input_sentence=false --user_defined_symbols='<sep>' \
  --minloglevel=1
cp "$work/brown_unigram.model" tests/data/tokenizers/brown_unigram.model
echo "train_brown_spm: wrote tests/data/tokenizers/brown_unigram.model ($(stat -c %s tests/data/tokenizers/brown_unigram.model) bytes)" >&2
