"""SHA-256 digests that tie results to the exact files and samples they came from."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def indices_sha256(indices: Any) -> str:
    """Hex sha256 of sample indices as little-endian int64 bytes (a results file's ``sample_indices_sha256``)."""
    return hashlib.sha256(np.ascontiguousarray(np.asarray(indices, dtype="<i8")).tobytes()).hexdigest()


def array_digest(values: Any) -> str:
    """Hex sha256 of an array's shape and its values as little-endian float32 (the precision a
    NetworkSpec keeps): equal for the same float32 array, whatever its memory layout; -0.0 counts
    as 0.0 (a sign a file round trip or an arithmetic identity may drop)."""
    a = np.ascontiguousarray(np.asarray(values, dtype="<f4")) + np.float32(0.0)
    return hashlib.sha256(repr(a.shape).encode() + a.tobytes()).hexdigest()


def settings_hash(obj: Any) -> str:
    """A short (16 hex digits) sha256 of plain data, independent of key order (JSON, sorted keys;
    paths as strings)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
