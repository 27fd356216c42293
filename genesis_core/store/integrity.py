"""Checksums of committed scans, so that every read of committed data can be verified.

A scan's checksum is the SHA-256 of its arrays (name, dtype, shape and bytes, in name
order), computed by the writer from the arrays it wrote and kept in the manifest entry.
A reader recomputes it the first time it touches the scan: flipped bytes, a truncated
or deleted shard (which Zarr would silently read as fill values) all show as a mismatch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np


class StoreCorruption(RuntimeError):
    """Committed data does not match its manifest; the message names the store and scan."""


def digest(arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()
