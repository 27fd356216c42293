"""Write one scan's cubes as a single shard (shard-aligned: one writer per shard).

Every scan gets its own array, so parallel workers never touch the same
shard; chunk-level locking is not needed and no cube can be lost.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import zarr
import zarr.errors
from zarr.codecs import BloscCodec

COMPRESSOR = BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")


def scan_path(scan_id: str) -> str:
    if "/" in scan_id or scan_id in (".", "..") or scan_id.startswith("__"):
        raise ValueError(f"scan id {scan_id!r} cannot be a Zarr node name")
    return f"scans/{scan_id}/cubes"


def open_root(store_uri: str, storage_options: Mapping[str, Any] | None = None, mode: str = "a"):
    opts = dict(storage_options) if storage_options and "://" in store_uri else None
    return zarr.open_group(store=store_uri, mode=mode, zarr_format=3, storage_options=opts)


def write_scan(
    store_uri: str,
    scan_id: str,
    cubes: np.ndarray,
    origins_zyx: np.ndarray,
    attrs: dict[str, Any],
    storage_options: Mapping[str, Any] | None = None,
) -> int:
    """Write ``cubes`` (n, D, H, W) int16 HU with provenance; returns n.

    Overwrites whatever a previous, uncommitted attempt left at that path.
    An empty scan (n = 0) writes nothing.
    """
    if cubes.dtype != np.int16 or cubes.ndim != 4:
        raise ValueError(f"cubes must be int16 (n, D, H, W), got {cubes.dtype} {cubes.shape}")
    n = int(cubes.shape[0])
    if n == 0:
        return 0
    root = _open_parents(store_uri, storage_options)
    arr = root.create_array(
        scan_path(scan_id),
        shape=cubes.shape,
        chunks=(1, *cubes.shape[1:]),
        shards=cubes.shape,
        dtype="int16",
        compressors=COMPRESSOR,
        fill_value=-1000,
        overwrite=True,
        attributes={**attrs, "scan_id": scan_id, "origins_zyx": np.asarray(origins_zyx).tolist()},
    )
    arr[...] = cubes
    return n


def _open_parents(store_uri: str, storage_options: Mapping[str, Any] | None):
    """Open the root with ``scans/`` present, tolerating workers racing to create it."""
    for attempt in range(5):
        try:
            root = open_root(store_uri, storage_options)
            root.require_group("scans")
            return root
        except (zarr.errors.ContainsGroupError, zarr.errors.ContainsArrayError, FileExistsError):
            if attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
