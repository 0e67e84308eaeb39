#!/usr/bin/env python3
"""Plain-text Brown corpus splits for the demo (scripts/demo.sh) and its teacher (scripts/make_demo_teacher.sh).

    python3 scripts/make_demo_data.py [--brown .testdata/brown] [--out .testdata/demo]

Each Brown file (500 of them, ~2,000 words each, tags stripped) becomes documents of 20 consecutive
sentences. Every 50th file (ca01, cb08, ... ten in all, spread over the genres) is held out:
brown_valid.jsonl; the rest is brown_train.jsonl. Standard library only; the output is deterministic.
"""
import argparse
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokenizer_corpora  # noqa: E402

SENTENCES_PER_DOC = 20


def file_sentences(path):
    """The sentences of one Brown file as plain text (tokenizer_corpora's detokenizer)."""
    with open(path, encoding="latin-1") as f:
        for line in f:
            words = [tok.rsplit("/", 1)[0] for tok in line.split()]
            sentence = tokenizer_corpora._detokenize(words) if words else ""
            if sentence:
                yield sentence


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brown", default=".testdata/brown")
    ap.add_argument("--out", default=".testdata/demo")
    args = ap.parse_args()
    paths = sorted(glob.glob(os.path.join(args.brown, "c[a-r][0-9][0-9]")))
    if len(paths) != 500:
        sys.exit(f"make_demo_data: expected the 500 Brown files in {args.brown}, found {len(paths)} "
                 "(run scripts/fetch_test_data.sh)")
    os.makedirs(args.out, exist_ok=True)
    counts = {"train": [0, 0], "valid": [0, 0]}
    outs = {k: open(os.path.join(args.out, f"brown_{k}.jsonl.tmp"), "w", encoding="utf-8") for k in counts}
    for i, path in enumerate(paths):
        split = "valid" if i % 50 == 0 else "train"
        sentences = list(file_sentences(path))
        for start in range(0, len(sentences), SENTENCES_PER_DOC):
            text = " ".join(sentences[start:start + SENTENCES_PER_DOC])
            outs[split].write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
            counts[split][0] += 1
            counts[split][1] += len(text.split())
    for k, f in outs.items():
        f.close()
        os.replace(f.name, f.name[:-len(".tmp")])
        print(f"make_demo_data: {f.name[:-len('.tmp')]}: {counts[k][0]} documents, {counts[k][1]} words")


if __name__ == "__main__":
    main()
