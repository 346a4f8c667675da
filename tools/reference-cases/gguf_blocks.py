"""Reference dequantization of every GGUF block type prefopt reads, from the `gguf` Python package
(llama.cpp's own reference implementation in numpy).

For each type: random blocks (random bytes, with every f16 scale field set to a finite value in
a realistic range so that no block is NaN/inf), their bytes as hex, and the f32 values that
`gguf.quants.dequantize` gives. Run with the `gguf` package installed:

    python3 tools/reference-cases/gguf_blocks.py crates/models/tests/data/gguf_blocks.json
"""

import importlib.metadata
import json
import sys

import numpy as np
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as T
from gguf.quants import dequantize

# Byte offsets of the f16 scale fields inside one block (llama.cpp's block structs).
F16_FIELDS = {
    T.Q4_0: [0],
    T.Q4_1: [0, 2],
    T.Q5_0: [0],
    T.Q5_1: [0, 2],
    T.Q8_0: [0],
    T.Q2_K: [80, 82],
    T.Q3_K: [108],
    T.Q4_K: [0, 2],
    T.Q5_K: [0, 2],
    T.Q6_K: [208],
}
BLOCKS = 3


def case(qtype, rng):
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    if qtype in (T.F32, T.F16, T.BF16):
        values = rng.standard_normal(64).astype(np.float32)
        if qtype == T.F32:
            raw = values.tobytes()
        elif qtype == T.F16:
            raw = values.astype(np.float16).tobytes()
        else:
            raw = (values.view(np.uint32) >> 16).astype(np.uint16).tobytes()
        data = np.frombuffer(raw, dtype=np.uint8)
    else:
        data = rng.integers(0, 256, size=BLOCKS * type_size, dtype=np.uint8)
        for b in range(BLOCKS):
            for offset in F16_FIELDS[qtype]:
                scale = np.float16(rng.uniform(0.001, 0.05) * rng.choice([-1.0, 1.0]))
                at = b * type_size + offset
                data[at : at + 2] = np.frombuffer(scale.tobytes(), dtype=np.uint8)
    values = dequantize(data, qtype).astype(np.float32).reshape(-1)
    return {
        "type": qtype.name,
        "type_id": int(qtype),
        "block_size": block_size,
        "type_size": type_size,
        "bytes": bytes(data).hex(),
        "values": [float(v) for v in values],
    }


def main(out):
    rng = np.random.default_rng(20261201)
    types = [T.F32, T.F16, T.BF16, *F16_FIELDS]
    cases = [case(t, rng) for t in types]
    with open(out, "w") as f:
        source = f"gguf {importlib.metadata.version('gguf')}: gguf.quants.dequantize"
        json.dump({"source": source, "cases": cases}, f)
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main(sys.argv[1])
