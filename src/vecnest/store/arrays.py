"""A flat archive of named numpy arrays, read by mapping the file (no copy, no pickle).

Layout: the magic ``b"VNARRAY1"``, a little-endian ``uint64`` header length, a JSON header
``{"arrays": {name: [dtype, shape, offset]}}``, then each array's raw bytes at its offset
(64-byte aligned). Reading maps the file once (without keeping a descriptor) and returns
read-only views into the mapping, so opening an archive costs microseconds whatever its size;
the mapping lives as long as any returned array.

Used for derived files that a new process must load fast (snapshot images); vectors live in
segments, indexes in FAISS's own format.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np

from vecnest.store.segments import map_file

_MAGIC = b"VNARRAY1"
_ALIGN = 64


def write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` (a temporary name: the caller publishes it). Only numeric and
    bool dtypes (no objects); C order."""
    layout: dict[str, list[object]] = {}
    blobs: list[tuple[int, np.ndarray]] = []
    offset = 0
    for name, arr in arrays.items():
        a = np.ascontiguousarray(arr)
        if a.dtype.hasobject:
            raise TypeError(f"array {name!r} holds Python objects; store bytes instead")
        offset = -(-offset // _ALIGN) * _ALIGN
        layout[name] = [a.dtype.str, list(a.shape), offset]
        blobs.append((offset, a))
        offset += a.nbytes
    header = json.dumps({"arrays": layout}, separators=(",", ":")).encode()
    start = -(-(len(_MAGIC) + 8 + len(header)) // _ALIGN) * _ALIGN
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "wb", closefd=False) as fh:
            fh.write(_MAGIC + struct.pack("<Q", len(header)) + header)
            for rel, a in blobs:
                fh.seek(start + rel)
                fh.write(memoryview(a).cast("B"))
            fh.truncate(start + offset)
    finally:
        os.close(fd)


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an archive, as read-only views of one mapping of the file.

    Raises:
        ValueError: not an archive, or a damaged one (bounds are checked).
        FileNotFoundError: no such file.
    """
    size = os.lstat(path).st_size
    if size < len(_MAGIC) + 8:
        raise ValueError(f"{path.name} is too short to be an array archive")
    raw = map_file(path, size)
    if bytes(raw[: len(_MAGIC)]) != _MAGIC:
        raise ValueError(f"{path.name} is not an array archive")
    (n,) = struct.unpack("<Q", bytes(raw[len(_MAGIC) : len(_MAGIC) + 8]))
    end = len(_MAGIC) + 8 + n
    if end > size:
        raise ValueError(f"{path.name}: header runs past the end of the file")
    layout = json.loads(bytes(raw[len(_MAGIC) + 8 : end]))["arrays"]
    start = -(-end // _ALIGN) * _ALIGN
    out = {}
    for name, (dtype, shape, offset) in layout.items():
        dt = np.dtype(dtype)
        if dt.hasobject:
            raise ValueError(f"{path.name}: array {name!r} has an object dtype")
        count = int(np.prod(shape, dtype=np.int64))
        lo = start + int(offset)
        hi = lo + count * dt.itemsize
        if lo < start or hi > size:
            raise ValueError(f"{path.name}: array {name!r} runs past the end of the file")
        out[name] = raw[lo:hi].view(dt).reshape(shape)
    return out
