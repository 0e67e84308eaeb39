#!/usr/bin/env python3
"""Writes the tokenizer golden files tests/data/tokenizers/golden_<name>.jsonl with the reference
libraries (run where they are installed: HF `tokenizers`, `tiktoken`, `sentencepiece`).

    python3 scripts/make_tokenizer_golden.py [--data .testdata] [--out tests/data/tokenizers]

Inputs: tests/data/tokenizers/texts.jsonl (scripts/make_tokenizer_texts.py), the committed
tests/data/tokenizers/brown_unigram.model, and from --data (scripts/fetch_test_data.sh):
qwen3/tokenizer.json, llama2/tokenizer.json, gpt2/encoder.json + gpt2/vocab.bpe.

References, one per distill backend:
  qwen3          HF tokenizers, Tokenizer.from_file(qwen3/tokenizer.json)
  llama2         HF tokenizers, Tokenizer.from_file(llama2/tokenizer.json)
  gpt2           HF tokenizers, the pipeline transformers converts GPT-2's two files into:
                 BPE.from_file(encoder.json, vocab.bpe), ByteLevel pre-tokenizer without prefix
                 space, ByteLevel decoder and post-processor (no offset trimming), and
                 <|endoftext|> as a special added token
  qwen-tiktoken  tiktoken with the original Qwen tokenizer's pattern, ranks and special tokens,
                 after unicodedata NFC and with every special token allowed, as Qwen's
                 tokenization_qwen.py does; the ranks file is regenerated from qwen3/tokenizer.json
                 by scripts/make_qwen_tiktoken.py (see its header for why that is the real file)
  brown-spm      the sentencepiece package on brown_unigram.model

Each golden file starts with a {"meta": ...} line (library versions, hashes of texts.jsonl), then
one line per text, in texts.jsonl order:
  {"id", "ids"}                        ids without special tokens
  "offsets": [b0, e0, b1, e1, ...]     byte offsets into the UTF-8 text (HF and sentencepiece;
                                       not for the invalid-UTF-8 texts, whose str is a repair)
  "ids_special"                        ids with special tokens, only where they differ
  "decoded"                            decode(ids), only where it is not the text itself
  "decoded_skip"                       decode(ids, skip special tokens), only where it differs
                                       from decoded
"""
import argparse
import base64
import hashlib
import json
import os
import platform
import sys
import tempfile
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

QWEN_PATTERN = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
                r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")


def fnv1a64(data):
    """FNV-1a 64 of bytes, as hex: the golden test compares it with texts.jsonl's."""
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def load_texts(path):
    """-> [(id, text, from_hex)]; hex texts are decoded with errors="replace"."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            item = json.loads(line)
            if "hex" in item:
                out.append((item["id"], bytes.fromhex(item["hex"]).decode("utf-8", errors="replace"), True))
            else:
                out.append((item["id"], item["text"], False))
    return out


def char_to_byte(text, offsets):
    """Flat byte offsets from (start, end) character offsets."""
    pos = [0]
    for ch in text:
        pos.append(pos[-1] + len(ch.encode("utf-8")))
    flat = []
    for s, e in offsets:
        flat += [pos[s], pos[e]]
    return flat


def row(text_id, text, ids, offsets, ids_special, decoded, decoded_skip):
    r = {"id": text_id, "ids": list(ids)}
    if offsets is not None:
        r["offsets"] = offsets
    if ids_special is not None and list(ids_special) != list(ids):
        r["ids_special"] = list(ids_special)
    if decoded != text:
        r["decoded"] = decoded
    if decoded_skip != decoded:
        r["decoded_skip"] = decoded_skip
    return r


def hf_rows(tok, texts):
    rows = []
    for text_id, text, from_hex in texts:
        enc = tok.encode(text, add_special_tokens=False)
        special = tok.encode(text, add_special_tokens=True)
        offsets = None if from_hex else char_to_byte(text, enc.offsets)
        rows.append(row(text_id, text, enc.ids, offsets, special.ids,
                        tok.decode(enc.ids, skip_special_tokens=False),
                        tok.decode(enc.ids, skip_special_tokens=True)))
    return rows


def gpt2_tokenizer(data):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    bpe = models.BPE.from_file(os.path.join(data, "gpt2", "encoder.json"), os.path.join(data, "gpt2", "vocab.bpe"))
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    return tok


def tiktoken_rows(data, texts):
    import tiktoken
    import make_qwen_tiktoken

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "qwen.tiktoken")
        make_qwen_tiktoken.convert(os.path.join(data, "qwen3", "tokenizer.json"), path)
        ranks = {}
        with open(path, "rb") as f:
            for line in f.read().splitlines():
                if line:
                    token, rank = line.split()
                    ranks[base64.b64decode(token)] = int(rank)
    start = len(ranks)  # 151643, Qwen's SPECIAL_START_ID
    names = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + [f"<|extra_{i}|>" for i in range(205)]
    specials = {name: start + i for i, name in enumerate(names)}
    enc = tiktoken.Encoding("qwen", pat_str=QWEN_PATTERN, mergeable_ranks=ranks, special_tokens=specials)
    rows = []
    for text_id, text, _ in texts:
        ids = enc.encode(unicodedata.normalize("NFC", text), allowed_special="all", disallowed_special=())
        decoded = enc.decode(ids, errors="replace")
        decoded_skip = enc.decode([i for i in ids if i < start], errors="replace")
        rows.append(row(text_id, text, ids, None, None, decoded, decoded_skip))
    return rows, {"tiktoken": tiktoken.__version__, "unidata_version": unicodedata.unidata_version}


def spm_rows(model_path, texts):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=model_path)

    def proto_of(text):
        # sentencepiece < 0.2.1: out_type="immutable_proto"; newer releases: return_type="proto".
        for kwargs in ({"return_type": "proto"}, {"out_type": "proto"}, {"out_type": "immutable_proto"}):
            try:
                return sp.encode(text, **kwargs)
            except (TypeError, ValueError, RuntimeError):
                continue
        return sp.encode_as_immutable_proto(text)

    # The Python wrapper may turn byte spans into character spans (ConvertToUnicodeSpans: a byte
    # offset inside a character becomes that character's index). Probe with a 2-byte character;
    # character spans are written back as the byte offset of each character's start, and the test
    # floors distill's byte offsets the same way.
    char_spans = proto_of("\u00e9").pieces[-1].end == 1
    rows = []
    for text_id, text, from_hex in texts:
        ids = sp.encode(text)
        proto = proto_of(text)
        offsets = None
        if not from_hex:
            if char_spans:
                offsets = char_to_byte(text, [(p.begin, p.end) for p in proto.pieces])
            else:
                offsets = []
                for p in proto.pieces:
                    offsets += [p.begin, p.end]
        special = sp.encode(text, add_bos=True)
        kept = [i for i in ids if not (sp.is_control(i) or sp.is_unknown(i))]
        rows.append(row(text_id, text, ids, offsets, special, sp.decode(ids), sp.decode(kept)))
    return rows, {"sentencepiece": spm.__version__, "offsets_floored_to_characters": char_spans}


def write(out_dir, name, meta, rows):
    path = os.path.join(out_dir, f"golden_{name}.jsonl")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps({"meta": meta}, ensure_ascii=False) + "\n")
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n")
    size = os.path.getsize(path)
    print(f"wrote {path}: {len(rows)} texts, {size} bytes", file=sys.stderr)
    if size >= 1 << 20:
        sys.exit(f"{path} is over 1 MiB: shorten the texts")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(ROOT, ".testdata"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "tokenizers"))
    ap.add_argument("--only", nargs="*", help="names to make (default: all)")
    args = ap.parse_args()
    texts_path = os.path.join(ROOT, "tests", "data", "tokenizers", "texts.jsonl")
    texts = load_texts(texts_path)
    with open(texts_path, "rb") as f:
        texts_bytes = f.read()
    os.makedirs(args.out, exist_ok=True)
    base = {"texts_sha256": hashlib.sha256(texts_bytes).hexdigest(), "texts_fnv1a64": fnv1a64(texts_bytes),
            "python": platform.python_version(),
            "script": "scripts/make_tokenizer_golden.py"}
    wanted = set(args.only or ["qwen3", "llama2", "gpt2", "qwen-tiktoken", "brown-spm"])

    if wanted & {"qwen3", "llama2", "gpt2"}:
        import tokenizers
        from tokenizers import Tokenizer
        hf_meta = dict(base, tokenizers=tokenizers.__version__)
        for name in ("qwen3", "llama2"):
            if name in wanted:
                tok = Tokenizer.from_file(os.path.join(args.data, name, "tokenizer.json"))
                write(args.out, name, dict(hf_meta, reference=f"tokenizers.Tokenizer.from_file({name}/tokenizer.json)"),
                      hf_rows(tok, texts))
        if "gpt2" in wanted:
            write(args.out, "gpt2", dict(hf_meta, reference="tokenizers BPE.from_file(encoder.json, vocab.bpe) + ByteLevel"),
                  hf_rows(gpt2_tokenizer(args.data), texts))
    if "qwen-tiktoken" in wanted:
        rows, meta = tiktoken_rows(args.data, texts)
        write(args.out, "qwen-tiktoken", dict(base, **meta, reference="tiktoken + Qwen pattern/specials after NFC"), rows)
    if "brown-spm" in wanted:
        model = os.path.join(ROOT, "tests", "data", "tokenizers", "brown_unigram.model")
        rows, meta = spm_rows(model, texts)
        write(args.out, "brown-spm", dict(base, **meta, reference="sentencepiece on brown_unigram.model"), rows)


if __name__ == "__main__":
    main()
