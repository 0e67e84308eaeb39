#!/usr/bin/env python3
"""Times distill's tokenizers and the reference libraries on one corpus in one run, single thread,
and writes docs/benchmarks/tokenizer-<date>.json and .md. Run through scripts/bench_tokenizer.sh,
which builds distill_tokenizer_bench and sets TOKENIZERS_PARALLELISM=false / RAYON_NUM_THREADS=1.

Per tokenizer: distill ids-only and with-offsets throughput (distill_tokenizer_bench, best of
--repeat after a warm-up), HF tokenizers' encode_batch (offsets included) and encode_batch_fast
(ids only, where this tokenizers version has it), each best of --repeat after a warm-up, and
whether both produced identical ids for the whole corpus (FNV-1a checksum). qwen-tiktoken is
compared with the tiktoken package (encode_ordinary_batch, one thread) for information.
"""
import argparse
import datetime
import json
import os
import platform
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))


def checksum(id_lists):
    """FNV-1a 64 over each id as 4 little-endian bytes, 0xFFFFFFFF after each document."""
    h = 0xCBF29CE484222325
    mask = 0xFFFFFFFFFFFFFFFF
    for ids in id_lists:
        for v in list(ids) + [0xFFFFFFFF]:
            for k in range(4):
                h = ((h ^ ((v >> (8 * k)) & 0xFF)) * 0x100000001B3) & mask
    return "%016x" % h


def best_of(repeat, fn):
    fn()  # warm-up (fills the word caches, as distill's warm-up does)
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def rate(seconds, nbytes, ntokens):
    return {"seconds": seconds, "mb_per_s": nbytes / seconds / 1e6, "tokens_per_s": ntokens / seconds}


def run_distill(bench, tokenizer, corpus, repeat, threads, name):
    out = subprocess.run([bench, "--tokenizer", tokenizer, "--corpus", corpus, "--repeat", str(repeat),
                          "--threads", str(threads), "--name", name],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def hf_tokenizer(name, data):
    from tokenizers import Tokenizer
    if name == "gpt2":
        from make_tokenizer_golden import gpt2_tokenizer
        return gpt2_tokenizer(data)
    return Tokenizer.from_file(os.path.join(data, name, "tokenizer.json"))


def bench_hf(tok, texts, nbytes, repeat):
    res = {}
    seconds, encs = best_of(repeat, lambda: tok.encode_batch(texts, add_special_tokens=False))
    ids = [e.ids for e in encs]
    ntok = sum(len(i) for i in ids)
    res["encode_batch"] = rate(seconds, nbytes, ntok)
    if hasattr(tok, "encode_batch_fast"):
        seconds, encs = best_of(repeat, lambda: tok.encode_batch_fast(texts, add_special_tokens=False))
        res["encode_batch_fast"] = rate(seconds, nbytes, ntok)
    res["tokens"] = ntok
    res["ids_checksum"] = checksum(ids)
    return res


def bench_tiktoken(data, texts, nbytes, repeat):
    import base64
    import tempfile

    import tiktoken

    import make_qwen_tiktoken
    from make_tokenizer_golden import QWEN_PATTERN
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "qwen.tiktoken")
        make_qwen_tiktoken.convert(os.path.join(data, "qwen3", "tokenizer.json"), path)
        ranks = {}
        with open(path, "rb") as f:
            for line in f.read().splitlines():
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
    enc = tiktoken.Encoding("qwen", pat_str=QWEN_PATTERN, mergeable_ranks=ranks, special_tokens={})
    seconds, ids = best_of(repeat, lambda: enc.encode_ordinary_batch(texts, num_threads=1))
    ntok = sum(len(i) for i in ids)
    return {"encode_ordinary_batch": rate(seconds, nbytes, ntok), "tokens": ntok, "ids_checksum": checksum(ids),
            "tiktoken": tiktoken.__version__}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def markdown(report):
    lines = [
        "# Tokenizer encode throughput: distill vs reference libraries",
        "",
        f"{report['date']} on {report['machine']['cpu']} ({report['machine']['host']}), one thread each, "
        f"same process run; corpus {report['corpus']['docs']} documents, {report['corpus']['bytes'] / 1e6:.1f} MB "
        "(Brown + nlp-corpus, scripts/make_bench_corpus.py). Best of "
        f"{report['repeat']} runs after a warm-up. Versions: {json.dumps(report['versions'])}.",
        "",
        "| tokenizer | distill ids MB/s | distill +offsets MB/s | reference | reference MB/s | distill / reference | same ids |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        d = r["distill"]
        for ref_name, ref in r["reference"].items():
            if not isinstance(ref, dict) or "mb_per_s" not in ref:
                continue
            mine = d["with_offsets"] if ref_name == "encode_batch" else d["ids_only"]
            lines.append(f"| {r['name']} | {d['ids_only']['mb_per_s']:.1f} | {d['with_offsets']['mb_per_s']:.1f} | "
                         f"{r['reference_library']} {ref_name} | {ref['mb_per_s']:.1f} | "
                         f"{mine['mb_per_s'] / ref['mb_per_s']:.2f}x | {'yes' if r['same_ids'] else 'NO'} |")
    lines += ["", "distill / reference compares like with like: ids only against encode_batch_fast and "
              "encode_ordinary_batch, ids + offsets against encode_batch.", ""]
    if report.get("multi_thread"):
        lines += ["distill encode_batch on every core (information):", ""]
        for r in report["multi_thread"]:
            lines.append(f"- {r['name']}: {r['ids_only']['mb_per_s']:.1f} MB/s on {r['threads']} threads")
        lines.append("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", required=True, help="path of distill_tokenizer_bench")
    ap.add_argument("--data", default=os.path.join(ROOT, ".testdata"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    if os.environ.get("TOKENIZERS_PARALLELISM") != "false":
        sys.exit("set TOKENIZERS_PARALLELISM=false (scripts/bench_tokenizer.sh does)")
    corpus = os.path.join(args.data, "bench", "corpus.jsonl")
    with open(corpus, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()]
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    wanted = args.only or ["qwen3", "llama2", "gpt2", "qwen-tiktoken"]
    import tokenizers
    versions = {"tokenizers": tokenizers.__version__, "python": platform.python_version()}
    results, multi = [], []
    for name in wanted:
        path = os.path.join(args.data, name)
        print(f"bench_tokenizer: {name}", file=sys.stderr)
        distill = run_distill(args.bench, path, corpus, args.repeat, 1, name)
        if name == "qwen-tiktoken":
            ref = bench_tiktoken(args.data, texts, nbytes, args.repeat)
            versions["tiktoken"] = ref.pop("tiktoken")
            library = "tiktoken"
        else:
            ref = bench_hf(hf_tokenizer(name, args.data), texts, nbytes, args.repeat)
            library = "HF tokenizers"
        results.append({"name": name, "distill": distill, "reference_library": library, "reference": ref,
                        "same_ids": distill["ids_checksum"] == ref["ids_checksum"]})
        multi.append(run_distill(args.bench, path, corpus, args.repeat, os.cpu_count() or 1, name))
    report = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": {"host": socket.gethostname(), "cpu": cpu_model(), "cores": os.cpu_count()},
        "versions": versions,
        "corpus": {"docs": len(texts), "bytes": nbytes, "path": os.path.relpath(corpus, ROOT)},
        "repeat": args.repeat,
        "results": results,
        "multi_thread": multi,
    }
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, "tokenizer-" + datetime.datetime.now().strftime("%Y%m%d-%H%M"))
    with open(stem + ".json", "w") as f:
        json.dump(report, f, indent=2)
    with open(stem + ".md", "w") as f:
        f.write(markdown(report))
    print(markdown(report))
    print(f"wrote {stem}.json and {stem}.md", file=sys.stderr)
    if not all(r["same_ids"] for r in results):
        sys.exit("bench_tokenizer: distill and the reference disagree on some ids (see same_ids)")


if __name__ == "__main__":
    main()
