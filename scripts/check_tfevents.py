#!/usr/bin/env python3
"""Checks a distill run directory's TensorBoard events file against its metrics.jsonl.

    scripts/check_tfevents.py RUN_DIR [--expect-metrics] [--decoder auto|tensorboard|protobuf|manual]

Independent of distill's C++ writer. Every events file under RUN_DIR (names containing "tfevents",
found the way `tensorboard --logdir RUN_DIR` finds them) is first checked record by record in pure
Python: TFRecord framing and both masked CRC-32C checksums. Then the events are decoded with the best
decoder that imports:

  tensorboard  tensorboard.backend.event_processing.event_accumulator.EventAccumulator, i.e. what
               TensorBoard itself shows; compared tag by tag as (step, value) sequences;
  protobuf     google.protobuf with Event/Summary/Value message classes built at run time from
               descriptors (field numbers of tensorflow/core/util/event.proto); compared event by
               event with the metrics rows;
  manual       a hand-written protobuf wire-format decoder (when neither package imports); compared
               event by event like protobuf.

Expected scalars: each metrics.jsonl row's numeric (non-boolean) fields except "step"; "val_x" is
tag "valid/x", anything else "train/<key>"; the event's step is the row's "step". Values are
compared as float32. A null in metrics.jsonl (distill writes non-finite numbers as null) must be a
non-finite value or absent in the events. The first record of the file must carry file_version
"brain.Event:2", and no later one.

--expect-metrics: fail unless metrics.jsonl has at least one row with a scalar (without it an empty
run directory passes). Exit status: 0 when everything matches, 1 on any mismatch, 2 on bad usage.
"""

import argparse
import json
import math
import os
import struct
import sys

FILE_VERSION = "brain.Event:2"


# ---------------------------------------------------------------- CRC-32C and TFRecord framing

def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data):
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def read_records(path):
    """The data of each record of a TFRecord file; raises ValueError naming the offset on damage."""
    with open(path, "rb") as f:
        blob = f.read()
    records = []
    pos = 0
    while pos < len(blob):
        if len(blob) - pos < 12:
            raise ValueError("%s: truncated record header at byte %d" % (path, pos))
        header = blob[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", blob[pos + 8:pos + 12])
        if length_crc != masked_crc32c(header):
            raise ValueError("%s: length checksum mismatch in the record at byte %d" % (path, pos))
        start = pos + 12
        if len(blob) - start < length + 4:
            raise ValueError("%s: truncated record data at byte %d" % (path, pos))
        data = blob[start:start + length]
        (data_crc,) = struct.unpack("<I", blob[start + length:start + length + 4])
        if data_crc != masked_crc32c(data):
            raise ValueError("%s: data checksum mismatch in the record at byte %d" % (path, pos))
        records.append(data)
        pos = start + length + 4
    return records


# ---------------------------------------------------------------- decoders
# Each returns a list of events as dicts: {"wall_time", "step", "file_version" (or None),
# "values": [(tag, float)], "has_summary"}.

def _read_varint(buf, pos):
    value = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise ValueError("varint longer than 10 bytes")


def _fields(buf):
    """(field number, wire type, value) of each field of a protobuf message, in order."""
    pos = 0
    out = []
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
        elif wire == 1:
            if len(buf) - pos < 8:
                raise ValueError("truncated fixed64 field")
            value = buf[pos:pos + 8]
            pos += 8
        elif wire == 5:
            if len(buf) - pos < 4:
                raise ValueError("truncated fixed32 field")
            value = buf[pos:pos + 4]
            pos += 4
        elif wire == 2:
            n, pos = _read_varint(buf, pos)
            if len(buf) - pos < n:
                raise ValueError("truncated length-delimited field")
            value = buf[pos:pos + n]
            pos += n
        else:
            raise ValueError("unsupported wire type %d" % wire)
        out.append((number, wire, value))
    return out


def decode_manual(records):
    events = []
    for data in records:
        ev = {"wall_time": 0.0, "step": 0, "file_version": None, "values": [], "has_summary": False}
        for number, wire, value in _fields(data):
            if number == 1 and wire == 1:
                (ev["wall_time"],) = struct.unpack("<d", value)
            elif number == 2 and wire == 0:
                ev["step"] = value - (1 << 64) if value >= (1 << 63) else value
            elif number == 3 and wire == 2:
                ev["file_version"] = value.decode("utf-8")
            elif number == 5 and wire == 2:
                ev["has_summary"] = True
                for vnum, vwire, vbytes in _fields(value):
                    if vnum != 1 or vwire != 2:
                        continue
                    tag, simple = None, None
                    for xnum, xwire, x in _fields(vbytes):
                        if xnum == 1 and xwire == 2:
                            tag = x.decode("utf-8")
                        elif xnum == 2 and xwire == 5:
                            (simple,) = struct.unpack("<f", x)
                    if simple is None:
                        raise ValueError("a Value without simple_value (tag %r)" % tag)
                    ev["values"].append((tag, simple))
            # other Event fields (graph_def, log_message, ...) are not written by distill: ignored
        events.append(ev)
    return events


def _protobuf_classes():
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="distill_check_tfevents_event.proto",
                                             package="distill_check_tfevents", syntax="proto2")

    def message(name, fields):
        m = fdp.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            f = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = type_name

    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    # Field numbers and types of tensorflow/core/util/event.proto and summary.proto (the parts distill writes).
    message("Value", [("tag", 1, F.TYPE_STRING, opt, None), ("simple_value", 2, F.TYPE_FLOAT, opt, None)])
    message("Summary", [("value", 1, F.TYPE_MESSAGE, rep, ".distill_check_tfevents.Value")])
    message("Event", [("wall_time", 1, F.TYPE_DOUBLE, opt, None), ("step", 2, F.TYPE_INT64, opt, None),
                      ("file_version", 3, F.TYPE_STRING, opt, None),
                      ("summary", 5, F.TYPE_MESSAGE, opt, ".distill_check_tfevents.Summary")])
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(fdp.SerializeToString())  # works from protobuf 3.x on (pool.Add is gone in newer ones)
    desc = pool.FindMessageTypeByName("distill_check_tfevents.Event")
    if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.21
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def decode_protobuf(records):
    Event = _protobuf_classes()
    events = []
    for data in records:
        e = Event()
        e.ParseFromString(data)
        ev = {"wall_time": e.wall_time, "step": e.step,
              "file_version": e.file_version if e.HasField("file_version") else None,
              "has_summary": e.HasField("summary"), "values": []}
        for v in e.summary.value:
            if not v.HasField("simple_value"):
                raise ValueError("a Value without simple_value (tag %r)" % v.tag)
            ev["values"].append((v.tag, v.simple_value))
        events.append(ev)
    return events


# ---------------------------------------------------------------- expected values

def as_float32(x):
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def tag_of(key):
    return "valid/" + key[4:] if key.startswith("val_") else "train/" + key


def expected_rows(metrics_path):
    """[(line number, step, [(tag, float32 value or None for null)])] of metrics.jsonl."""
    rows = []
    with open(metrics_path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            step = row.get("step", 0)
            values = []
            for key, value in row.items():
                if key == "step" or isinstance(value, bool):
                    continue
                if value is None:
                    values.append((tag_of(key), None))
                elif isinstance(value, (int, float)):
                    values.append((tag_of(key), as_float32(float(value))))
            rows.append((lineno, int(step), values))
    return rows


def same_value(expected, got):
    if expected is None:  # non-finite in the run, written as null in JSON
        return not math.isfinite(got)
    if math.isnan(expected) or math.isnan(got):
        return math.isnan(expected) and math.isnan(got)
    if math.isinf(expected) or math.isinf(got):
        return expected == got
    return abs(expected - got) <= 2.0 ** -23 * max(abs(expected), abs(got), 1e-38)


# ---------------------------------------------------------------- comparisons

class Report:
    def __init__(self, limit=20):
        self.problems = []
        self.limit = limit
        self.compared = 0

    def bad(self, text):
        self.problems.append(text)
        if len(self.problems) <= self.limit:
            print("MISMATCH: " + text)


def compare_events(events, rows, report, path):
    """Event by event: the first carries file_version, then one event per metrics row."""
    if not events:
        if rows:
            report.bad("%s holds no events but metrics.jsonl has %d rows" % (path, len(rows)))
        return
    if events[0]["file_version"] != FILE_VERSION:
        report.bad("%s: the first event's file_version is %r, not %r" % (path, events[0]["file_version"], FILE_VERSION))
    for i, ev in enumerate(events[1:], 1):
        if ev["file_version"] is not None:
            report.bad("%s: event %d carries file_version %r again" % (path, i, ev["file_version"]))
    scalar_events = events[1:]
    if len(scalar_events) != len(rows):
        report.bad("%s: %d scalar events, metrics.jsonl has %d rows" % (path, len(scalar_events), len(rows)))
    for ev, (lineno, step, values) in zip(scalar_events, rows):
        where = "metrics.jsonl line %d" % lineno
        if ev["step"] != step:
            report.bad("%s: step %d in the events file, %d in metrics.jsonl" % (where, ev["step"], step))
        got = dict(ev["values"])
        if len(got) != len(ev["values"]):
            report.bad("%s: an event repeats a tag: %s" % (where, [t for t, _ in ev["values"]]))
        want_tags = {t for t, _ in values}
        for tag in sorted(set(got) - want_tags):
            report.bad("%s: tag %s is in the events file but not in the row" % (where, tag))
        for tag, want in values:
            if tag not in got:
                if want is not None:
                    report.bad("%s: tag %s (%r) is missing from the events file" % (where, tag, want))
                continue
            report.compared += 1
            if not same_value(want, got[tag]):
                report.bad("%s: %s is %r in the events file, %r in metrics.jsonl (as float32)" % (where, tag, got[tag], want))


def compare_by_tag(scalars, rows, report):
    """scalars: {tag: [(step, value)]} as TensorBoard loads them."""
    want = {}
    for lineno, step, values in rows:
        for tag, value in values:
            want.setdefault(tag, []).append((lineno, step, value))
    for tag in sorted(set(scalars) - set(want)):
        report.bad("tag %s is in the events but in no metrics row" % tag)
    for tag, expected in sorted(want.items()):
        got = scalars.get(tag, [])
        # A null (non-finite) value may have been left out of the events; line up on the others.
        if len(got) != len(expected):
            finite = [e for e in expected if e[2] is not None]
            if len(got) == len(finite):
                expected = finite
            else:
                report.bad("%s: %d scalars in TensorBoard, %d in metrics.jsonl" % (tag, len(got), len(expected)))
        for (step, value), (lineno, want_step, want_value) in zip(got, expected):
            report.compared += 1
            if step != want_step:
                report.bad("%s (metrics.jsonl line %d): step %d in TensorBoard, %d in metrics.jsonl" % (tag, lineno, step, want_step))
            elif not same_value(want_value, value):
                report.bad("%s at step %d (metrics.jsonl line %d): %r in TensorBoard, %r in metrics.jsonl (as float32)"
                           % (tag, step, lineno, value, want_value))


def load_with_tensorboard(event_dir):
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc = ea.EventAccumulator(event_dir, size_guidance={ea.SCALARS: 0})
    acc.Reload()
    return {tag: [(s.step, s.value) for s in acc.Scalars(tag)] for tag in acc.Tags()[ea.SCALARS]}


# ---------------------------------------------------------------- main

def find_event_files(run_dir):
    found = []
    for root, dirs, names in os.walk(run_dir):
        dirs.sort()
        found += [os.path.join(root, n) for n in sorted(names) if "tfevents" in n]
    return found


def pick_decoder(wanted):
    if wanted in ("auto", "tensorboard"):
        try:
            import tensorboard
            from tensorboard.backend.event_processing import event_accumulator  # noqa: F401
            return "tensorboard", "tensorboard %s EventAccumulator" % getattr(tensorboard, "__version__", "?")
        except Exception as e:  # ImportError, or a broken install
            if wanted == "tensorboard":
                sys.exit("check_tfevents: --decoder tensorboard: cannot import tensorboard: %s" % e)
    if wanted in ("auto", "protobuf"):
        try:
            import google.protobuf
            _protobuf_classes()
            return "protobuf", ("google.protobuf %s (Event/Summary/Value built from descriptors at run time), "
                                "pure-Python CRC-32C" % google.protobuf.__version__)
        except Exception as e:
            if wanted == "protobuf":
                sys.exit("check_tfevents: --decoder protobuf: cannot use google.protobuf: %s" % e)
    return "manual", ("hand-written protobuf wire-format decoder and pure-Python CRC-32C "
                      "(neither tensorboard nor google.protobuf could be used)" if wanted == "auto"
                      else "hand-written protobuf wire-format decoder and pure-Python CRC-32C (--decoder manual)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--expect-metrics", action="store_true",
                    help="fail unless metrics.jsonl has at least one row with a scalar")
    ap.add_argument("--decoder", choices=["auto", "tensorboard", "protobuf", "manual"], default="auto",
                    help="auto (default): tensorboard if it imports, else protobuf, else manual")
    args = ap.parse_args()

    if not os.path.isdir(args.run_dir):
        print("check_tfevents: %s is not a folder" % args.run_dir, file=sys.stderr)
        return 2
    decoder, used = pick_decoder(args.decoder)
    print("decoder: " + used)
    report = Report()

    metrics_path = os.path.join(args.run_dir, "metrics.jsonl")
    rows = expected_rows(metrics_path) if os.path.exists(metrics_path) else []
    n_scalars = sum(len(v) for _, _, v in rows)
    if not os.path.exists(metrics_path):
        print("note: %s does not exist" % metrics_path)
    if args.expect_metrics and n_scalars == 0:
        report.bad("--expect-metrics: %s has no row with a scalar" % metrics_path)

    files = find_event_files(args.run_dir)
    if len(files) > 1:
        report.bad("more than one events file (TensorBoard would show them all): %s" % ", ".join(files))
    if not files:
        if rows:
            report.bad("no events file (name containing 'tfevents') under %s, but metrics.jsonl has %d rows"
                       % (args.run_dir, len(rows)))
    n_events = 0
    for path in files:
        try:
            records = read_records(path)
        except ValueError as e:
            report.bad(str(e))
            continue
        print("%s: %d records, framing and CRC-32C checksums good" % (path, len(records)))
        n_events += len(records)
        try:
            if decoder == "tensorboard":
                # The protobuf-free decoder checks the event sequence (file_version first, one event
                # per row); TensorBoard's own loader checks what the UI shows.
                compare_events(decode_manual(records), rows, report, path)
                compare_by_tag(load_with_tensorboard(os.path.dirname(path)), rows, report)
            else:
                events = decode_protobuf(records) if decoder == "protobuf" else decode_manual(records)
                compare_events(events, rows, report, path)
        except Exception as e:  # a decode error is a mismatch, not a crash
            report.bad("%s: cannot decode: %s: %s" % (path, type(e).__name__, e))

    tags = sorted({t for _, _, v in rows for t, _ in v})
    print("metrics.jsonl: %d rows, %d scalars, tags: %s" % (len(rows), n_scalars, " ".join(tags) or "(none)"))
    print("events: %d file(s), %d records; %d scalar comparisons" % (len(files), n_events, report.compared))
    if report.problems:
        if len(report.problems) > report.limit:
            print("... and %d more mismatches" % (len(report.problems) - report.limit))
        print("FAILED: %d mismatch(es)" % len(report.problems))
        return 1
    print("OK: every scalar in the events file matches metrics.jsonl")
    return 0


if __name__ == "__main__":
    sys.exit(main())
