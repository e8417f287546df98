#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets: tests/fuzz/corpus/<target>/seed-*.

A few small valid files (so that the fuzzers start deep inside the parsers) and a few invalid
ones, each a few hundred bytes. The regress-* files beside them are crashes the fuzzers found;
they are committed as found and never regenerated. Run from anywhere:

  python3 tests/fuzz/make_seeds.py
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- GGUF
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q8_0, GGML_Q4_K, GGML_I32, GGML_BF16 = 0, 1, 2, 8, 12, 26, 30
GGML_BYTES = {  # (block size, bytes per block)
    GGML_F32: (1, 4), GGML_F16: (1, 2), GGML_Q4_0: (32, 18), GGML_Q8_0: (32, 34),
    GGML_Q4_K: (256, 144), GGML_I32: (1, 4), GGML_BF16: (1, 2),
}
SCALAR_FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
              BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gvalue(t, v):
    if t == STRING:
        return gstr(v)
    if t == ARRAY:
        elem, items = v
        out = struct.pack("<IQ", elem, len(items))
        for it in items:
            out += gvalue(elem, it)
        return out
    return struct.pack(SCALAR_FMT[t], v)


def gguf(kvs, tensors, alignment=32, version=3):
    """kvs: [(key, type, value)]; tensors: [(name, dims, ggml type)] laid out in order."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for key, t, v in kvs:
        out += gstr(key) + struct.pack("<I", t) + gvalue(t, v)
    offset, blobs = 0, []
    for name, dims, t in tensors:
        n = 1
        for d in dims:
            n *= d
        block, bpb = GGML_BYTES[t]
        nbytes = n // block * bpb
        out += gstr(name) + struct.pack("<I", len(dims))
        out += b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", t, offset)
        blobs.append(bytes((i * 7 + 3) & 0xFF for i in range(nbytes)))
        offset += (nbytes + alignment - 1) // alignment * alignment
    out += b"\0" * (-len(out) % alignment)
    for b in blobs:
        out += b + b"\0" * (-len(b) % alignment)
    return out


def gguf_seeds():
    kvs = [
        ("general.architecture", STRING, "llama"),
        ("general.alignment", U32, 32),
        ("llama.block_count", U32, 2),
        ("llama.rope.freq_base", F32, 10000.0),
        ("llama.attention.layer_norm_rms_epsilon", F64, 1e-6),
        ("general.file_type", I32, 1),
        ("general.size", U64, 1 << 40),
        ("general.delta", I64, -5),
        ("general.flag", BOOL, True),
        ("general.small", U8, 7),
        ("general.i8", I8, -7),
        ("general.u16", U16, 65535),
        ("general.i16", I16, -300),
        ("tokenizer.ggml.tokens", ARRAY, (STRING, ["<s>", "</s>", "a", "b"])),
        ("tokenizer.ggml.token_type", ARRAY, (I32, [3, 3, 1, 1])),
        ("tokenizer.ggml.scores", ARRAY, (F32, [0.0, 0.0, -1.5, -2.5])),
        ("general.bools", ARRAY, (BOOL, [True, False])),
        ("general.nested", ARRAY, (ARRAY, [(U8, [1, 2]), (STRING, ["x"])])),
    ]
    tensors = [
        ("token_embd.weight", [4, 2], GGML_F32),
        ("blk.0.attn_q.weight", [32, 2], GGML_Q8_0),
        ("blk.0.ffn_up.weight", [32], GGML_Q4_0),
        ("output_norm.weight", [4], GGML_F16),
        ("blk.0.ffn_down.weight", [256], GGML_Q4_K),
        ("blk.0.bias", [3], GGML_BF16),
        ("pos", [2], GGML_I32),
    ]
    full = gguf(kvs, tensors)
    seeds = {
        "seed-valid-full.gguf": full,
        "seed-valid-empty.gguf": gguf([], []),
        "seed-valid-v2-align64.gguf": gguf([("general.alignment", U32, 64)],
                                           [("w", [2, 3], GGML_F32), ("scalar", [], GGML_F32)],
                                           alignment=64, version=2),
        "seed-invalid-truncated.gguf": full[: len(full) - 40],
    }
    # Two tensors at the same offset.
    overlap = bytearray(gguf([], [("a", [8], GGML_F32), ("b", [8], GGML_F32)]))
    at = overlap.find(b"\x01\x00\x00\x00\x00\x00\x00\x00b")  # name "b" (length 1)
    info_b = at + 8 + 1 + 4 + 8 + 4  # len, name, n_dims, dim, type -> offset
    overlap[info_b:info_b + 8] = struct.pack("<Q", 0)
    seeds["seed-invalid-overlap.gguf"] = bytes(overlap)
    return seeds


# ---------------------------------------------------------------- safetensors
ST_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "I8": 1, "U8": 1, "I16": 2, "I32": 4,
           "I64": 8, "F64": 8, "BOOL": 1}


def safetensors(tensors, metadata=None, pad=True, extra=b""):
    """tensors: [(name, dtype, shape)] laid out in order."""
    header, offset, data = {}, 0, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        nbytes = n * ST_SIZE[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + nbytes]}
        data += bytes((offset + i) * 5 & 0xFF for i in range(nbytes))
        offset += nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data + extra


def raw_safetensors(header, data):
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + data


def safetensors_seeds():
    all_dtypes = [(f"t.{d.lower()}", d, [2, 3]) for d in ST_SIZE]
    return {
        "seed-valid-two.safetensors": safetensors(
            [("a", "F32", [2, 2]), ("b", "BF16", [4])], metadata={"format": "pt"}),
        "seed-valid-all-dtypes.safetensors": safetensors(all_dtypes + [("empty", "F32", [0, 4]),
                                                                       ("scalar", "F64", [])]),
        # Header of odd length: every multi-byte tensor is misaligned and gets copied.
        "seed-valid-misaligned.safetensors": safetensors(
            [("x", "F32", [3]), ("y", "I64", [1])], pad=False),
        "seed-valid-empty.safetensors": safetensors([], metadata={}),
        "seed-invalid-overlap.safetensors": raw_safetensors(
            {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
             "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12)),
        "seed-invalid-dtype-shape.safetensors": raw_safetensors(
            {"a": {"dtype": "Q4_0", "shape": [2], "data_offsets": [0, 8]},
             "b": {"dtype": "F32", "shape": [-1, 2], "data_offsets": [0, 8]}}, bytes(8)),
        "seed-invalid-truncated.safetensors": safetensors([("a", "F32", [16])])[:-10],
        "seed-invalid-header-length.safetensors": struct.pack("<Q", 1 << 62) + b"{}",
    }


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        print(f"{os.path.relpath(os.path.join(d, name))}: {len(data)} bytes")


if __name__ == "__main__":
    write("gguf_fuzz", gguf_seeds())
    write("safetensors_fuzz", safetensors_seeds())
