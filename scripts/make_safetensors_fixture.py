#!/usr/bin/env python3
"""Writes the Python-made safetensors fixture that tests/unit/test_safetensors_python.cpp reads.

Run once where PyTorch and the `safetensors` package are installed (the GPU machine), then commit
the two outputs:
    tests/data/safetensors/python_written.safetensors   written by safetensors.torch.save_file
    tests/data/safetensors/python_written.json          what Python says the file holds

Values are fixed formulas and literals (no RNG), one or more tensors of every dtype distill loads,
including bf16/f16 special values, a 0-d scalar and a zero-element tensor. The sidecar records each
tensor's dtype, shape, raw little-endian bytes (hex) and values; non-finite floats are the strings
"nan", "inf" and "-inf" so the sidecar stays strict JSON.
"""
import json
import math
import pathlib
import sys

import safetensors
import torch
from safetensors.torch import save_file

OUT_DIR = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "safetensors"
NAME = "python_written"

DTYPE_NAMES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}

INF, NAN = float("inf"), float("nan")


def tensors():
    return {
        "model.embed_tokens.weight": ((torch.arange(12, dtype=torch.float32) - 5.5) / 4).reshape(4, 3).to(torch.bfloat16),
        "special.bf16": torch.tensor([INF, -INF, NAN, -0.0, 1e-40, 3.140625], dtype=torch.bfloat16),
        "layer.f16": torch.tensor([65504.0, -65504.0, 6e-8, 0.1, -2.5, INF, NAN, 1.0 / 3.0],
                                  dtype=torch.float16).reshape(2, 4),
        "layer.f32": torch.tensor([math.pi, -math.e, 1e-45, 3.4e38, 0.1, -0.0], dtype=torch.float32).reshape(2, 3),
        "attn.qkv.weight": (torch.arange(15, dtype=torch.float32) / 7).reshape(3, 5),
        "layer.f64": torch.tensor([math.pi, 1e-310, -1e300, 0.1], dtype=torch.float64).reshape(2, 2),
        "ids.i64": torch.tensor([-(2**62), 2**62, -1, 0, 2**53 + 1], dtype=torch.int64),
        "ids.i32": torch.tensor([-(2**31), 2**31 - 1, 7], dtype=torch.int32),
        "ids.i16": torch.tensor([-32768, 32767, -2], dtype=torch.int16),
        "ids.i8": torch.tensor([-128, 127, 0, -1], dtype=torch.int8),
        "bytes.u8": torch.tensor([0, 1, 128, 255], dtype=torch.uint8),
        "mask.bool": torch.tensor([True, False, False, True, True]),
        "scalar.f32": torch.tensor(2.5, dtype=torch.float32),
        "empty.f32": torch.zeros(0, 3, dtype=torch.float32),
    }


def json_value(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def describe(t):
    flat = t.reshape(-1)
    return {
        "dtype": DTYPE_NAMES[t.dtype],
        "shape": list(t.shape),
        "hex": flat.view(torch.uint8).numpy().tobytes().hex(),
        "values": [json_value(v) for v in flat.tolist()],
    }


def main():
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    data = tensors()
    metadata = {"format": "pt", "producer": "scripts/make_safetensors_fixture.py", "note": "every dtype distill loads"}
    st_path = OUT_DIR / f"{NAME}.safetensors"
    save_file(data, str(st_path), metadata=metadata)
    sidecar = {
        "file": st_path.name,
        "made_with": {"torch": torch.__version__, "safetensors": safetensors.__version__, "python": sys.version.split()[0]},
        "metadata": metadata,
        "tensors": {name: describe(t) for name, t in data.items()},
    }
    json_path = OUT_DIR / f"{NAME}.json"
    json_path.write_text(json.dumps(sidecar, indent=1, allow_nan=False) + "\n")
    print(f"wrote {st_path} ({st_path.stat().st_size} bytes) and {json_path}")


if __name__ == "__main__":
    main()
