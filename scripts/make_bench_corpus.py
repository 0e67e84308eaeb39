#!/usr/bin/env python3
"""Writes the tokenizer benchmark corpus: Brown + nlp-corpus sentences joined into documents of ten
sentences, {"text": ...} per line, about 8 MB (plain Python 3, deterministic).

    python3 scripts/make_bench_corpus.py [DATA_DIR] [OUT_FILE]
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import tokenizer_corpora  # noqa: E402

LIMIT = 8_000_000


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".testdata")
    out_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(data, "bench", "corpus.jsonl")
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    size = 0
    with open(out_path + ".tmp", "w", encoding="utf-8", newline="\n") as out:
        for source in (tokenizer_corpora.brown_sentences(os.path.join(data, "brown")),
                       tokenizer_corpora.nlp_corpus_sentences(os.path.join(data, "nlp-corpus"))):
            doc = []
            for sentence in source:
                doc.append(sentence)
                if len(doc) == 10:
                    text = " ".join(doc)
                    out.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
                    size += len(text.encode("utf-8"))
                    doc = []
                if size >= LIMIT:
                    break
            if size >= LIMIT:
                break
    os.replace(out_path + ".tmp", out_path)
    print(f"wrote {out_path}: {size} bytes of text", file=sys.stderr)


if __name__ == "__main__":
    main()
