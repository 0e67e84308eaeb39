#!/usr/bin/env python3
"""Writes a qwen.tiktoken ranks file from a Qwen2/2.5/3 tokenizer.json (plain Python 3, no packages).

    python3 scripts/make_qwen_tiktoken.py .testdata/qwen3/tokenizer.json OUT/qwen.tiktoken

Why this is a faithful stand-in for the original Qwen(-7B) qwen.tiktoken, which no npm package carries:
the original file has one line per regular token, "<base64 of the token's bytes> <rank>", 151,643 lines,
ranks 0..151642. Qwen1.5/2/2.5/3 did not retrain that vocabulary: their vocab.json/tokenizer.json is the
same 151,643 byte sequences written in GPT-2's byte-to-unicode alphabet, with id == tiktoken rank, and
the special tokens start at the same id (151643, <|endoftext|>). So decoding each byte-level vocab entry
back to bytes and writing "<base64> <id>" in id order reproduces the ranks file. The merge list of the
tokenizer.json is not needed: tiktoken merges any adjacent pair whose concatenation has a rank, lowest
rank first, which is exactly what the ranks encode.
"""
import base64
import json
import sys


def bytes_to_unicode():
    """GPT-2's reversible map from the 256 byte values to printable unicode characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def convert(tokenizer_json, out_path):
    with open(tokenizer_json, encoding="utf-8") as f:
        tok = json.load(f)
    model = tok["model"]
    if model.get("type") != "BPE":
        sys.exit(f"{tokenizer_json}: model type {model.get('type')!r} is not BPE")
    char_to_byte = {c: b for b, c in bytes_to_unicode().items()}
    by_rank = sorted(model["vocab"].items(), key=lambda kv: kv[1])
    ranks = [r for _, r in by_rank]
    if ranks != list(range(len(ranks))):
        sys.exit(f"{tokenizer_json}: vocab ids are not 0..{len(ranks) - 1} without gaps")
    with open(out_path, "w", encoding="ascii", newline="\n") as out:
        for token, rank in by_rank:
            raw = bytes(char_to_byte[c] for c in token)
            out.write(base64.b64encode(raw).decode("ascii") + " " + str(rank) + "\n")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: make_qwen_tiktoken.py TOKENIZER_JSON OUT_FILE")
    convert(sys.argv[1], sys.argv[2])


if __name__ == "__main__":
    main()
