"""Plain-text readers for the downloaded corpora (.testdata/brown, .testdata/nlp-corpus); no packages.

Used by scripts/train_brown_spm.sh and scripts/make_tokenizer_texts.py.
"""
import glob
import json
import os
import re

_SPACE_BEFORE = re.compile(r" ([,.;:?!)\]}%]|'s\b|n't\b|'re\b|'ve\b|'ll\b|'d\b|'m\b)")
_SPACE_AFTER = re.compile(r"([(\[{$]) ")


def _detokenize(words):
    text = " ".join(words)
    text = text.replace("``", '"').replace("''", '"')
    text = _SPACE_BEFORE.sub(r"\1", text)
    text = _SPACE_AFTER.sub(r"\1", text)
    text = re.sub(r'" (.*?) "', r'"\1"', text)
    return text.strip()


def brown_sentences(brown_dir):
    """Yields the Brown corpus sentences (one tagged sentence per line) as plain text, file order."""
    for path in sorted(glob.glob(os.path.join(brown_dir, "c[a-r][0-9][0-9]"))):
        with open(path, encoding="latin-1") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                words = [tok.rsplit("/", 1)[0] for tok in line.split()]
                sentence = _detokenize(words)
                if sentence:
                    yield sentence


def nlp_corpus_sentences(corpus_dir):
    """Yields the nlp-corpus sentences, file order (doc-0.json, doc-1.json, ...)."""
    paths = glob.glob(os.path.join(corpus_dir, "doc-*.json"))
    for path in sorted(paths, key=lambda p: int(re.search(r"doc-(\d+)", p).group(1))):
        with open(path, encoding="utf-8") as f:
            for item in json.load(f):
                if isinstance(item, str) and item.strip():
                    yield item
