"""Write one scan's target samples: one array per kind, one shard per scan per array.

Layout inside the store's Zarr v3 group (see :mod:`genesis_core.targets`)::

    scans/<scan_id>/<generation>/images   int16 (n, D, H, W) HU, one chunk per cube, one shard
    scans/<scan_id>/<generation>/masks    uint8 (n, D, H, W) {0, 1}, same chunking (segmentation)
    scans/<scan_id>/<generation>/labels   int8 (n,), one chunk (classification)

Provenance attributes go on ``images``.  Writing is not visible to readers until the
scan is committed in a manifest (:func:`genesis_core.store.manifest.commit_scans`);
a rerun overwrites whatever an uncommitted attempt left.  Only the arrays of the
current task are written (a store holds one task: its config hash is checked on commit).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genesis_core.io.storage import LocationLike
from genesis_core.store.integrity import digest
from genesis_core.store.writer import (
    COMPRESSOR,
    Written,
    _open_parents,
    check_scan_id,
    generation_group,
    new_generation,
)
from genesis_core.targets.arrays import TargetArrays

KINDS = {"images": (np.int16, -1000), "masks": (np.uint8, 0), "labels": (np.int8, 0)}


def target_path(scan_id: str, kind: str, group: str | None = None) -> str:
    """``<group>/<kind>`` (legacy group: ``scans/<scan_id>``); the id must be a Zarr node name."""
    if kind not in KINDS:
        raise ValueError(f"unknown array kind {kind!r}; use one of {sorted(KINDS)}")
    return f"{group or 'scans/' + check_scan_id(scan_id)}/{kind}"


def target_digest(arrays: dict[str, np.ndarray]) -> str:
    """Checksum of a scan's target arrays, each in its stored type."""
    return digest({k: np.asarray(v).astype(KINDS[k][0], copy=False) for k, v in arrays.items()})


def _check(arrays: TargetArrays) -> None:
    n = len(arrays)
    if arrays.images.dtype != np.int16 or arrays.images.ndim != 4:
        raise ValueError(
            f"images must be int16 (n, D, H, W), got {arrays.images.dtype} {arrays.images.shape}"
        )
    if arrays.masks is not None and (
        arrays.masks.shape != arrays.images.shape or arrays.masks.dtype != np.uint8
    ):
        raise ValueError(
            f"masks must be uint8 {arrays.images.shape}, got {arrays.masks.dtype} {arrays.masks.shape}"
        )
    if arrays.labels is not None and arrays.labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {arrays.labels.shape}")


def _write(root, path: str, data: np.ndarray, kind: str, attrs: dict[str, Any]) -> None:
    dtype, fill = KINDS[kind]
    chunks = (1, *data.shape[1:]) if data.ndim > 1 else data.shape
    arr = root.create_array(
        path,
        shape=data.shape,
        chunks=chunks,
        shards=data.shape,
        dtype=np.dtype(dtype).name,
        compressors=COMPRESSOR,
        fill_value=fill,
        overwrite=True,
        attributes=attrs,
    )
    arr[...] = data.astype(dtype, copy=False)


def write_target_scan(
    store: LocationLike,
    scan_id: str,
    arrays: TargetArrays,
    attrs: dict[str, Any],
    generation: str | None = None,
) -> Written:
    """Write ``arrays`` (and ``attrs`` provenance on ``images``) into a new generation.

    n = 0 writes nothing.  Committed generations are never written again.
    """
    _check(arrays)
    n = len(arrays)
    if n == 0:
        return Written(0)
    group = generation_group(scan_id, generation or new_generation())
    root = _open_parents(store)
    present = {"images": arrays.images}
    present.update(
        {k: getattr(arrays, k) for k in ("masks", "labels") if getattr(arrays, k) is not None}
    )
    for kind, data in present.items():
        extra = {**attrs, "scan_id": scan_id} if kind == "images" else {"scan_id": scan_id}
        _write(root, target_path(scan_id, kind, group), data, kind, extra)
    return Written(n, group, target_digest(present))
