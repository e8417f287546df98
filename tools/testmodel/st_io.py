"""Safetensors reading/writing and the number formats of DeepSeek checkpoints (numpy only).

File layout (https://github.com/huggingface/safetensors, "Format" section):
  8-byte little-endian header length N, then N bytes of JSON
  {"__metadata__": {...}, name: {"dtype", "shape", "data_offsets": [begin, end]}, ...},
  then the raw little-endian tensor data; offsets are relative to the end of the header.
The reference library pads the JSON with spaces so the data starts 8-byte aligned.

Number formats:
  BF16  upper 16 bits of an IEEE float32; float32 -> bf16 rounds to nearest, ties to even.
  F8_E4M3 (e4m3fn)  1 sign, 4 exponent (bias 7), 3 mantissa bits; no infinities; 0x7F/0xFF
        are NaN; max finite 448; subnormals are m * 2^-9.
"""

import json
import os
import struct

import sys

import numpy as np

if sys.byteorder != "little":
    raise RuntimeError("st_io assumes a little-endian host")

# ---------------------------------------------------------------------------------------
# dtype conversions
# ---------------------------------------------------------------------------------------

ST_DTYPE_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "I64": 8, "I32": 4,
                 "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def f32_to_bf16_bits(x):
    """float32 array -> uint16 bf16 bit patterns, round to nearest even (finite inputs)."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounding = ((bits >> 16) & 1) + np.uint32(0x7FFF)
    return ((bits + rounding) >> 16).astype(np.uint16)


def bf16_bits_to_f32(b):
    return (np.asarray(b, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def _fp8_e4m3_table():
    """The 256 e4m3fn values as float64 (NaN for 0x7F and 0xFF)."""
    t = np.empty(256, dtype=np.float64)
    for code in range(256):
        sign = -1.0 if code & 0x80 else 1.0
        exp = (code >> 3) & 0xF
        man = code & 0x7
        if exp == 0xF and man == 0x7:
            t[code] = np.nan
        elif exp == 0:
            t[code] = sign * man * 2.0 ** -9
        else:
            t[code] = sign * (1.0 + man / 8.0) * 2.0 ** (exp - 7)
    return t


FP8_E4M3_TABLE = _fp8_e4m3_table()
FP8_E4M3_MAX = 448.0


def _fp8_normal_lut():
    """Code for each 12-bit (sign, float32 exponent, top-3 mantissa) index of a float32
    already rounded to 3 mantissa bits, for exponents in e4m3's normal range (-6 .. 8)."""
    lut = np.zeros(4096, dtype=np.uint8)
    for idx in range(4096):
        sign, exp32, man = idx >> 11, (idx >> 3) & 0xFF, idx & 7
        e = exp32 - 127
        if -6 <= e <= 8:
            lut[idx] = (sign << 7) | ((e + 7) << 3) | man
    return lut


_FP8_NORMAL_LUT = _fp8_normal_lut()


def f32_to_fp8_e4m3_bits(x):
    """float32 array -> uint8 e4m3fn codes, round to nearest even, saturating at +-448.

    Normal range (|x| >= 2^-6): round the float32 mantissa from 23 to 3 bits in the bit
    pattern, then look the (sign, exponent, mantissa) bits up. Subnormal range: the code is
    rint(|x| * 2^9) (0..8; 8 is exactly the smallest normal, whose code is also 8)."""
    x = np.clip(np.asarray(x, dtype=np.float32), -FP8_E4M3_MAX, FP8_E4M3_MAX)
    bits = x.view(np.uint32)
    rounded = bits + ((bits >> 20) & 1)
    rounded += np.uint32(0x7FFFF)
    code = _FP8_NORMAL_LUT[rounded >> 20]
    small = np.abs(x) < np.float32(2.0 ** -6)
    if small.any():
        xs = x[small]
        sub = np.rint(np.abs(xs).astype(np.float64) * 512.0).astype(np.uint8)
        code[small] = sub | np.where(np.signbit(xs), 0x80, 0).astype(np.uint8)
    return code


def fp8_e4m3_bits_to_f64(b):
    return FP8_E4M3_TABLE[np.asarray(b, dtype=np.uint8)]


def quantize_fp8_blocks(w, block=(128, 128)):
    """DeepSeek block quantisation of a 2-D float32 weight [out, in].

    For each block x block tile: scale = amax(|tile|) / 448 (float32), q = fp8(tile / scale).
    Returns (q codes uint8 [out, in], scale_inv float32 [ceil(out/b0), ceil(in/b1)]) with
    W ~= fp8_to_float(q) * scale_inv."""
    w = np.asarray(w, dtype=np.float32)
    out_f, in_f = w.shape
    b0, b1 = block
    nb0, nb1 = -(-out_f // b0), -(-in_f // b1)
    if (out_f, in_f) == (nb0 * b0, nb1 * b1):
        pad = w
    else:
        pad = np.zeros((nb0 * b0, nb1 * b1), dtype=np.float32)
        pad[:out_f, :in_f] = w
    tiles = pad.reshape(nb0, b0, nb1, b1)
    amax = np.abs(tiles).max(axis=(1, 3)).astype(np.float32)
    scale = (amax / np.float32(FP8_E4M3_MAX)).astype(np.float32)
    scale[scale == 0] = np.float32(1.0)
    scaled = tiles / scale[:, None, :, None]
    q = f32_to_fp8_e4m3_bits(scaled).reshape(nb0 * b0, nb1 * b1)[:out_f, :in_f]
    return np.ascontiguousarray(q), scale


def dequantize_fp8_blocks(q, scale_inv, block=(128, 128)):
    """W[i, j] = fp8(q[i, j]) * scale_inv[i // b0, j // b1], in float64."""
    out_f, in_f = q.shape
    b0, b1 = block
    want = (-(-out_f // b0), -(-in_f // b1))
    if tuple(scale_inv.shape) != want:
        raise ValueError(f"scale_inv shape {tuple(scale_inv.shape)} != {want} for weight {q.shape}")
    s = np.repeat(np.repeat(np.asarray(scale_inv, np.float64), b0, axis=0), b1, axis=1)
    return fp8_e4m3_bits_to_f64(q) * s[:out_f, :in_f]


# ---------------------------------------------------------------------------------------
# writer
# ---------------------------------------------------------------------------------------

class SafetensorsWriter:
    """Streams tensors into one .safetensors file: the header (names, dtypes, shapes) is
    fixed up front, then each tensor's bytes are written in the declared order, so a
    multi-GB model never has to be held in memory. Data may be written in row chunks."""

    def __init__(self, path, specs, metadata=None):
        """specs: list of (name, st_dtype, shape) in file order."""
        self.path = path
        self.specs = list(specs)
        header = {"__metadata__": dict(metadata or {"format": "pt"})}
        offset = 0
        for name, dtype, shape in self.specs:
            nbytes = ST_DTYPE_SIZE[dtype] * int(np.prod(shape, dtype=np.int64))
            header[name] = {"dtype": dtype, "shape": [int(s) for s in shape],
                            "data_offsets": [offset, offset + nbytes]}
            offset += nbytes
        self.total_bytes = offset
        hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
        hjson += b" " * ((8 - len(hjson) % 8) % 8)
        self.f = open(path, "wb")
        self.f.write(struct.pack("<Q", len(hjson)))
        self.f.write(hjson)
        self.index = 0
        self.pending = 0  # bytes still owed for the current tensor

    def write(self, name, data):
        """Write (a row chunk of) tensor `name`; data is a numpy array already in the
        storage representation (float32, uint16 bf16 bits, uint8 fp8 codes...)."""
        if self.pending == 0:
            spec_name, dtype, shape = self.specs[self.index]
            if spec_name != name:
                raise ValueError(f"expected tensor {spec_name}, got {name}")
            self.pending = ST_DTYPE_SIZE[dtype] * int(np.prod(shape, dtype=np.int64))
            self.index += 1
        buf = np.ascontiguousarray(data).tobytes()  # host is little-endian (checked at import)
        if len(buf) > self.pending:
            raise ValueError(f"{name}: too much data")
        self.f.write(buf)
        self.pending -= len(buf)

    def close(self):
        if self.pending != 0 or self.index != len(self.specs):
            raise ValueError(f"{self.path}: incomplete ({self.index}/{len(self.specs)} tensors)")
        self.f.close()


# ---------------------------------------------------------------------------------------
# reader
# ---------------------------------------------------------------------------------------

class SafetensorsFile:
    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n).decode("utf-8"))
        self.metadata = header.pop("__metadata__", {})
        self.tensors = header
        self.data_start = 8 + n
        size = os.path.getsize(path)
        for name, t in self.tensors.items():
            b, e = t["data_offsets"]
            want = ST_DTYPE_SIZE[t["dtype"]] * int(np.prod(t["shape"], dtype=np.int64))
            if e - b != want or self.data_start + e > size:
                raise ValueError(f"{path}: tensor {name} has bad data_offsets {b, e}")

    def raw(self, name):
        """The stored array: float32/float64 for F32/F64, uint16 for BF16, uint8 for F8."""
        t = self.tensors[name]
        np_dtype = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "F8_E4M3": "u1",
                    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1",
                    "BOOL": "u1"}[t["dtype"]]
        b, e = t["data_offsets"]
        count = (e - b) // np.dtype(np_dtype).itemsize
        arr = np.fromfile(self.path, dtype=np_dtype, count=count, offset=self.data_start + b)
        return arr.reshape(t["shape"])


def to_f64(raw, st_dtype):
    """Stored array -> float64 values (BF16 bit patterns, F8 codes decoded)."""
    if st_dtype == "BF16":
        return bf16_bits_to_f32(raw).astype(np.float64)
    if st_dtype == "F8_E4M3":
        return fp8_e4m3_bits_to_f64(raw)
    return np.asarray(raw, dtype=np.float64)


class CheckpointReader:
    """A model directory: model.safetensors, or shards listed in model.safetensors.index.json."""

    def __init__(self, model_dir):
        index_path = os.path.join(model_dir, "model.safetensors.index.json")
        self.files = {}
        self.where = {}
        if os.path.exists(index_path):
            with open(index_path) as f:
                weight_map = json.load(f)["weight_map"]
            for name, fname in weight_map.items():
                if fname not in self.files:
                    self.files[fname] = SafetensorsFile(os.path.join(model_dir, fname))
                if name not in self.files[fname].tensors:
                    raise ValueError(f"{fname}: index lists {name} but the shard lacks it")
                self.where[name] = self.files[fname]
        else:
            st = SafetensorsFile(os.path.join(model_dir, "model.safetensors"))
            self.files["model.safetensors"] = st
            for name in st.tensors:
                self.where[name] = st

    def names(self):
        return list(self.where)

    def dtype(self, name):
        return self.where[name].tensors[name]["dtype"]

    def shape(self, name):
        return tuple(self.where[name].tensors[name]["shape"])

    def raw(self, name):
        return self.where[name].raw(name)

    def f64(self, name):
        return to_f64(self.raw(name), self.dtype(name))
