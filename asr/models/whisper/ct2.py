"""Read a CTranslate2 ``model.bin`` (the bundled Whisper tiny.en) into PyTorch tensors.

Format (little-endian): u32 version, string spec name, u32 revision, u32 n_variables; each
variable: string name, u8 rank, rank × u32 dims, u8 dtype, u32 nbytes, raw bytes; then u32
n_aliases and (alias, target) string pairs. A string is u16 length (with trailing NUL) + bytes.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import torch

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def string(self) -> str:
        n = self.take("H")
        s = self.data[self.pos:self.pos + n - 1].decode()
        self.pos += n
        return s

    def raw(self, n: int) -> bytes:
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b


def read_ct2(path: str | Path) -> dict[str, torch.Tensor]:
    """All variables of a CTranslate2 model, aliases resolved, as float32/int tensors."""
    r = _Reader(Path(path).read_bytes())
    version = r.take("I")
    if version < 5:
        raise ValueError(f"{path}: CTranslate2 model version {version} is too old (need ≥ 5)")
    r.string()  # spec name, e.g. WhisperSpec
    r.take("I")  # revision
    out: dict[str, torch.Tensor] = {}
    for _ in range(r.take("I")):
        name = r.string()
        rank = r.take("B")
        dims = [r.take("I") for _ in range(rank)]
        dtype = r.take("B")
        nbytes = r.take("I")
        if dtype not in _DTYPES:
            raise ValueError(f"{path}: variable {name} has unsupported dtype code {dtype}")
        array = np.frombuffer(r.raw(nbytes), dtype=_DTYPES[dtype]).reshape(dims)
        out[name] = torch.from_numpy(array.astype(np.float32) if dtype == 4 else array.copy())
    for _ in range(r.take("I")):
        alias, target = r.string(), r.string()
        out[alias] = out[target]
    return out
