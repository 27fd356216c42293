"""Write one scan's cubes as a single shard (shard-aligned: one writer per shard).

Every write goes to a new *generation* (``scans/<scan_id>/<generation>/cubes``), so
committed data is never rewritten in place: a rebuild writes beside it, and only a
manifest commit makes the new generation visible.  Parallel workers never touch the
same shard; chunk-level locking is not needed and no cube can be lost.

Besides the manifest's checksum of the whole scan, the array's attributes keep a CRC32C
of every cube (``cube_crc32c``), so a reader that fetches single cubes checks each one.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import google_crc32c
import numpy as np
import zarr
import zarr.errors
from zarr.codecs import BloscCodec

from genesis_core.io.storage import Location, LocationLike
from genesis_core.store.integrity import digest
from genesis_core.store.manifest import ScanEntry

COMPRESSOR = BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")


def check_scan_id(scan_id: str) -> str:
    if "/" in scan_id or scan_id in (".", "..") or scan_id.startswith("__"):
        raise ValueError(f"scan id {scan_id!r} cannot be a Zarr node name")
    return scan_id


def scan_path(scan_id: str, group: str | None = None) -> str:
    """The cube array of a scan: ``<group>/cubes`` (legacy group: ``scans/<scan_id>``)."""
    return f"{group or 'scans/' + check_scan_id(scan_id)}/cubes"


def new_generation() -> str:
    """A fresh generation name: never the name of anything already written."""
    return "g" + uuid.uuid4().hex[:16]


def generation_group(scan_id: str, generation: str) -> str:
    return f"scans/{check_scan_id(scan_id)}/{generation}"


@dataclass(frozen=True)
class Written:
    """What a write produced: the sample count, the group it went to, its checksum."""

    n: int
    path: str = ""
    checksum: str = ""

    def entry(self, scan_id: str, source_sha256: str, subset: int | None = None) -> ScanEntry:
        return ScanEntry(scan_id, self.n, source_sha256, subset, self.path, self.checksum)


def cube_crc(cube: np.ndarray) -> int:
    """CRC32C of one int16 cube's bytes (little endian, C order): its per-read check."""
    return google_crc32c.value(np.ascontiguousarray(cube, dtype="<i2").tobytes())


def cube_digest(cubes: np.ndarray, origins_zyx) -> str:
    return digest({"cubes": cubes, "origins": np.asarray(origins_zyx, dtype=np.int64)})


def open_root(store: LocationLike, mode: str = "a"):
    store = Location.of(store)
    opts = dict(store.options) if store.options and store.remote else None
    return zarr.open_group(store=store.uri, mode=mode, zarr_format=3, storage_options=opts)


def write_scan(
    store: LocationLike,
    scan_id: str,
    cubes: np.ndarray,
    origins_zyx: np.ndarray,
    attrs: dict[str, Any],
    generation: str | None = None,
) -> Written:
    """Write ``cubes`` (n, D, H, W) int16 HU with provenance into a new generation.

    ``generation`` (default: a fresh one) lets a retried task overwrite its own
    uncommitted attempt; committed generations are never written again.  An empty
    scan (n = 0) writes nothing.
    """
    if cubes.dtype != np.int16 or cubes.ndim != 4:
        raise ValueError(f"cubes must be int16 (n, D, H, W), got {cubes.dtype} {cubes.shape}")
    n = int(cubes.shape[0])
    if n == 0:
        return Written(0)
    group = generation_group(scan_id, generation or new_generation())
    root = _open_parents(store)
    origins = np.asarray(origins_zyx).tolist()
    arr = root.create_array(
        scan_path(scan_id, group),
        shape=cubes.shape,
        chunks=(1, *cubes.shape[1:]),
        shards=cubes.shape,
        dtype="int16",
        compressors=COMPRESSOR,
        fill_value=-1000,
        overwrite=True,
        attributes={
            **attrs,
            "scan_id": scan_id,
            "origins_zyx": origins,
            "cube_crc32c": [cube_crc(c) for c in cubes],
        },
    )
    arr[...] = cubes
    return Written(n, group, cube_digest(cubes, origins))


def _open_parents(store: LocationLike):
    """Open the root with ``scans/`` present, tolerating workers racing to create it."""
    for attempt in range(5):
        try:
            root = open_root(store)
            root.require_group("scans")
            return root
        except (zarr.errors.ContainsGroupError, zarr.errors.ContainsArrayError, FileExistsError):
            if attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
