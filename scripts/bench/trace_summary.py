#!/usr/bin/env python3
"""Where the device's time goes in a `train.trace_steps` trace (trace.json, or .json.gz).

Sums the GPU kernels' durations by kind (matrix products, attention, distill's own kernels, ATen
elementwise and reductions, the optimizer, copies) and by kernel name, per traced step, and says how
busy the device was (the union of the kernel intervals over the traced span).

    python3 scripts/bench/trace_summary.py run/trace.json [--steps 2] [--top 40] [--gaps 8]

For each of the longest gaps it also says what the host did: the CPU op and runtime call that
launched the kernel after the gap, how late that was, and the runtime calls that ran in the gap.
--who REGEX counts the CPU ops that launch the kernels whose names match (say, Memset).
"""
import argparse
import bisect
import collections
import gzip
import json
import re
import sys

KINDS = [  # first match wins
    ("product", re.compile(r"nvjet|gemm|cutlass|sm90_xmma|cublas|splitKreduce", re.I)),
    ("attention", re.compile(r"flash|fmha|cudnn|sdpa|attention", re.I)),
    ("optimizer", re.compile(r"adam|multi_tensor", re.I)),
    ("distill", re.compile(r"distill::")),
    ("copy/cast", re.compile(r"copy|cast|Memcpy|Memset|fill", re.I)),
    ("reduction", re.compile(r"reduce|norm_kernel|sum|max_", re.I)),
    ("elementwise", re.compile(r"elementwise|vectorized|unrolled", re.I)),
]


def kind_of(name):
    for kind, pattern in KINDS:
        if pattern.search(name):
            return kind
    return "other"


def short(name):
    """The kernel's name without its argument list, and template arguments cut to 100 characters."""
    name = name.removeprefix("void ").replace("(anonymous namespace)::", "")
    name = re.sub(r"\(.*$", "", name)
    return name if len(name) <= 140 else name[:140] + "..."


class HostSide:
    """What the host did around an idle gap: the runtime call (by Kineto's correlation id) that
    launched the kernel after it, the innermost CPU op around that call, and the runtime calls that
    ran while the device was idle (a synchronisation shows up there)."""

    def __init__(self, events):
        self.runtime = [e for e in events if e.get("ph") == "X" and e.get("cat") == "cuda_runtime"]
        self.by_correlation = {e.get("args", {}).get("correlation"): e for e in self.runtime}
        self.ops_by_tid = collections.defaultdict(list)  # tid -> CPU ops sorted by start
        for e in events:
            if e.get("ph") == "X" and e.get("cat") == "cpu_op":
                self.ops_by_tid[e.get("tid")].append(e)
        for ops in self.ops_by_tid.values():
            ops.sort(key=lambda e: float(e["ts"]))
        self.starts = {tid: [float(e["ts"]) for e in ops] for tid, ops in self.ops_by_tid.items()}

    def enclosing(self, tid, ts, most=2):
        """Up to `most` CPU ops of thread `tid` running at `ts`, innermost first (the latest started)."""
        ops, found = self.ops_by_tid.get(tid, []), []
        i = bisect.bisect_right(self.starts.get(tid, []), ts) - 1
        while i >= 0 and len(found) < most:
            op = ops[i]
            if float(op["ts"]) + float(op.get("dur", 0)) >= ts:
                found.append(op)
            i -= 1
        return found

    def launcher(self, kernel):
        """The innermost CPU op around the runtime call that launched `kernel`, and the op around
        that one (its caller), or None."""
        launch = self.by_correlation.get(kernel.get("args", {}).get("correlation"))
        if launch is None:
            return None
        around = self.enclosing(launch.get("tid"), float(launch["ts"]))
        return " < ".join(op["name"][:50] for op in around) or "?"

    def explain(self, kernel, idle_from):
        launch = self.by_correlation.get(kernel.get("args", {}).get("correlation"))
        if launch is None:
            return ""
        ts = float(launch["ts"])
        around = self.enclosing(launch.get("tid"), ts, most=1)
        op = around[0]["name"] if around else "?"
        during = collections.Counter()
        for e in self.runtime:
            a, b = float(e["ts"]), float(e["ts"]) + float(e.get("dur", 0))
            overlap = min(b, ts) - max(a, idle_from)
            if overlap > 0 and e is not launch:
                during[e.get("name", "?")] += overlap
        busy = ", ".join(f"{name} {us:.0f} us" for name, us in during.most_common(3))
        return (f"host: launched by {launch.get('name', '?')} in {op[:60]} {ts - idle_from:+.0f} us from the idle "
                f"start" + (f"; runtime calls in the gap: {busy}" if busy else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace")
    ap.add_argument("--steps", type=int, default=2, help="steps in the trace (train.trace_steps)")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--gaps", type=int, default=8, help="list the longest idle gaps")
    ap.add_argument("--who", metavar="REGEX", help="count the CPU ops (innermost < its caller) that launch the "
                    "kernels whose name matches, e.g. --who Memset")
    args = ap.parse_args()
    opener = gzip.open if args.trace.endswith(".gz") else open
    with opener(args.trace, "rt") as f:
        events = json.load(f)
    events = events["traceEvents"] if isinstance(events, dict) else events
    kernels = [e for e in events if e.get("ph") == "X" and e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
    if not kernels:
        sys.exit(f"{args.trace}: no GPU kernels in the trace (was it a CUDA run?)")
    per = args.steps
    by_kind = collections.Counter()
    by_name = collections.Counter()
    count = collections.Counter()
    for k in kernels:
        d = float(k.get("dur", 0)) / 1000.0  # us -> ms
        name = short(k.get("name", "?"))
        by_kind[kind_of(k.get("name", ""))] += d
        by_name[name] += d
        count[name] += 1
    ordered = sorted(kernels, key=lambda k: float(k["ts"]))
    spans = [(float(k["ts"]), float(k["ts"]) + float(k.get("dur", 0))) for k in ordered]
    busy, end, last = 0.0, None, None
    start = spans[0][0]
    gaps = []  # (idle us, name of the kernel before, name of the kernel after)
    for i, (a, b) in enumerate(spans):
        if end is None or a > end:
            if end is not None:
                gaps.append((a - end, short(ordered[last].get("name", "?")), short(ordered[i].get("name", "?")),
                             ordered[i]))
            busy += b - a
            end, last = b, i
        elif b > end:
            busy += b - end
            end, last = b, i
    span = max(b for _, b in spans) - start
    streams = collections.Counter(k.get("args", {}).get("stream", k.get("tid")) for k in kernels)
    total = sum(by_kind.values())
    print(f"{args.trace}: {len(kernels)} kernels over {span / 1000:.1f} ms ({per} steps), device busy "
          f"{busy / span:.1%}, streams {dict(streams)}")
    print(f"kernel time per step: {total / per:.1f} ms")
    for kind, ms in by_kind.most_common():
        print(f"  {kind:12s} {ms / per:8.2f} ms  {ms / total:6.1%}")
    buckets = [(0, 5), (5, 20), (20, 100), (100, 1000), (1000, float("inf"))]
    print("idle time between kernels (no kernel on any stream), per step:")
    for lo, hi in buckets:
        sel = [g for g, *_ in gaps if lo <= g < hi]
        print(f"  gaps of {lo}-{hi} us: {len(sel) / per:7.1f}, {sum(sel) / 1000 / per:6.2f} ms")
    host = HostSide(events)
    for g, before, after, nxt in sorted(gaps, key=lambda x: x[0], reverse=True)[:args.gaps]:
        print(f"  {g:9.0f} us after {before[:70]} before {after[:70]}")
        why = host.explain(nxt, float(nxt["ts"]) - g)
        if why:
            print(f"            {why}")
    if args.who:
        pattern = re.compile(args.who)
        who = collections.Counter(host.launcher(k) for k in kernels if pattern.search(k.get("name", "")))
        print(f"launchers of the kernels matching {args.who!r} (launches per step):")
        for name, n in who.most_common(20):
            print(f"  {n / per:7.1f}  {name}")
    print(f"top {args.top} kernels (ms per step, launches per step):")
    for name, ms in by_name.most_common(args.top):
        print(f"  {ms / per:8.2f}  {count[name] / per:7.1f}  [{kind_of(name)}] {name}")


if __name__ == "__main__":
    main()
