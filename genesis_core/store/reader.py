"""Read a committed cube store: length, single cubes, batches, provenance, splits.

Cubes are stored as int16 HU and normalised on read with the range preprocessing stored
for each scan (``unit_range``: the HU window, or per-volume statistics for MRI-style
modes), [−1000, 1000] HU for scans without one; an explicit ``window`` overrides both.  Arrays are opened lazily and only the requested
chunks are fetched: a single cube costs the shard index plus one chunk read.
Reads are verified: the first time a reader touches a scan it reads the scan whole
and checks it against the manifest's checksum (``verify=False`` skips this), so a
damaged, truncated or deleted shard is an error naming the store and the scan,
never wrong voxels.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from genesis_core.store.integrity import StoreCorruption
from genesis_core.store.manifest import Manifest, read_latest
from genesis_core.store.writer import cube_digest, open_root, scan_path

DEFAULT_WINDOW = (-1000.0, 1000.0)
LUNA16_SPLIT = {"train": range(0, 5), "val": range(5, 7), "test": range(7, 10)}


class ManifestView:
    """The scans of one manifest of a store (optionally some of them) as one index.

    Samples are numbered scan by scan in ``scan_ids`` order; :meth:`_locate` maps a sample
    number to ``(scan_id, index in scan)``, :meth:`_open` opens (and caches) an array of
    the store lazily.  Shared by the cube store and target-task store readers.
    """

    unit = "sample"  # in error messages

    def __init__(
        self,
        uri: str,
        storage_options: Mapping[str, Any] | None = None,
        scan_ids: Sequence[str] | None = None,
        manifest: Manifest | None = None,
        verify: bool = True,
    ) -> None:
        self.uri = uri
        self.verify = verify
        self._verified: set[str] = set()
        self.storage_options = dict(storage_options or {})
        self.manifest = manifest or read_latest(uri, storage_options)
        ids = sorted(self.manifest.scans) if scan_ids is None else list(scan_ids)
        missing = [s for s in ids if s not in self.manifest.scans]
        if missing:
            raise KeyError(f"scans not committed in {uri}: {missing[:5]}")
        self.scan_ids = ids
        counts = np.array([self.manifest.scans[s].n_cubes for s in ids], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._arrays: dict[str, Any] = {}
        self._root = None

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _locate(self, i: int) -> tuple[str, int]:
        if not 0 <= i < len(self):
            raise IndexError(f"{self.unit} {i} out of range for {len(self)} {self.unit}s")
        k = int(np.searchsorted(self._starts, i, side="right") - 1)
        return self.scan_ids[k], i - int(self._starts[k])

    def _open(self, path: str):
        if path not in self._arrays:
            if self._root is None:
                self._root = open_root(self.uri, self.storage_options, mode="r")
            self._arrays[path] = self._root[path]
        return self._arrays[path]

    def _group(self, scan_id: str) -> str:
        return self.manifest.scans[scan_id].group

    def _digest(self, scan_id: str) -> str:
        """The checksum of the scan's arrays as read now (subclasses know their arrays)."""
        raise NotImplementedError

    def check_scan(self, scan_id: str) -> str:
        """Why the scan does not match its manifest entry ('' when it does, or has no checksum)."""
        entry = self.manifest.scans[scan_id]
        if not entry.checksum:
            return ""
        try:
            got = self._digest(scan_id)
        except Exception as e:  # noqa: BLE001 - a missing or undecodable array is damage
            return f"cannot be read ({type(e).__name__}: {str(e)[:200]})"
        if got != entry.checksum:
            return f"checksum mismatch (manifest {entry.checksum[:12]}…, data {got[:12]}…)"
        return ""

    def _ensure_verified(self, scan_id: str) -> None:
        if not self.verify or scan_id in self._verified:
            return
        problem = self.check_scan(scan_id)
        if problem:
            raise StoreCorruption(
                f"store {self.uri}: scan {scan_id} ({self._group(scan_id)}) fails verification: "
                f"{problem}; run `genesis store verify {self.uri}`"
            )
        self._verified.add(scan_id)

    def verify_all(self) -> dict[str, str]:
        """``{scan_id: problem}`` for every scan of the view ('' = verified, or no checksum)."""
        out = {sid: self.check_scan(sid) for sid in self.scan_ids}
        self._verified.update(sid for sid, problem in out.items() if not problem)
        return out

    def verify_store(self) -> None:
        """Check every scan now; :class:`StoreCorruption` names the damaged ones."""
        bad = {sid: p for sid, p in self.verify_all().items() if p}
        if bad:
            listed = "; ".join(f"{sid}: {p}" for sid, p in list(bad.items())[:5])
            raise StoreCorruption(
                f"store {self.uri}: {len(bad)} of {len(self.scan_ids)} scans fail verification "
                f"({listed}); run `genesis store verify {self.uri}`"
            )


class CubeStore(ManifestView):
    """A read-only view of one manifest of a store (optionally restricted to some scans).

    ``read(indices)`` returns float32 (n, D, H, W) in [0, 1], the
    ``genesis_core.training`` reader protocol.
    """

    unit = "cube"

    def __init__(
        self,
        uri: str,
        storage_options: Mapping[str, Any] | None = None,
        scan_ids: Sequence[str] | None = None,
        window: tuple[float, float] | None = None,
        manifest: Manifest | None = None,
        verify: bool = True,
    ) -> None:
        super().__init__(uri, storage_options, scan_ids, manifest, verify)
        self.window = window

    def unit_range(self, scan_id: str) -> tuple[float, float]:
        """The (lo, hi) HU that map this scan to [0, 1]."""
        if self.window is not None:
            return self.window
        stored = self._array(scan_id).attrs.get("unit_range")
        return (float(stored[0]), float(stored[1])) if stored else DEFAULT_WINDOW

    def _array(self, scan_id: str):
        self._ensure_verified(scan_id)
        return self._open(scan_path(scan_id, self._group(scan_id)))

    def _digest(self, scan_id: str) -> str:
        arr = self._open(scan_path(scan_id, self._group(scan_id)))
        return cube_digest(np.asarray(arr[...]), arr.attrs["origins_zyx"])

    def raw_cube(self, i: int) -> np.ndarray:
        """Cube ``i`` as stored: int16 HU (D, H, W)."""
        scan_id, j = self._locate(i)
        return self._array(scan_id)[j]

    def cube(self, i: int) -> np.ndarray:
        """Cube ``i`` normalised to float32 [0, 1] (D, H, W)."""
        return self._normalise(self.raw_cube(i), self.unit_range(self._locate(i)[0]))

    def read(self, indices: Sequence[int]) -> np.ndarray:
        """Cubes at ``indices`` as float32 (n, D, H, W) in [0, 1]; reads grouped by scan."""
        idx = np.asarray(indices, dtype=np.int64)
        out = np.empty((len(idx), *self.cube_shape), dtype=np.float32)
        located = [self._locate(int(i)) for i in idx]
        by_scan: dict[str, list[tuple[int, int]]] = {}
        for pos, (sid, j) in enumerate(located):
            by_scan.setdefault(sid, []).append((pos, j))
        for sid, pairs in by_scan.items():
            js = [j for _, j in pairs]
            block = self._array(sid).get_orthogonal_selection((js,))
            out[[p for p, _ in pairs]] = self._normalise(block, self.unit_range(sid))
        return out

    @property
    def cube_shape(self) -> tuple[int, int, int]:
        cfg = self.manifest.config.get("cube_zyx")
        if cfg:
            return tuple(cfg)  # type: ignore[return-value]
        return tuple(self._array(self.scan_ids[0]).shape[1:])  # type: ignore[return-value]

    @staticmethod
    def _normalise(hu: np.ndarray, lohi: tuple[float, float]) -> np.ndarray:
        lo, hi = lohi
        return ((np.clip(hu, lo, hi).astype(np.float32) - lo) / (hi - lo)).astype(np.float32)

    def provenance(self, i: int) -> dict[str, Any]:
        """Scan id, voxel origin (z, y, x) in the resampled grid, spacing and config hash."""
        scan_id, j = self._locate(i)
        attrs = dict(self._array(scan_id).attrs)
        return {
            "scan_id": scan_id,
            "index_in_scan": j,
            "origin_zyx": attrs["origins_zyx"][j],
            "spacing_xyz": attrs.get("spacing_xyz"),
            "config_hash": attrs.get("config_hash"),
            "source_sha256": attrs.get("source_sha256"),
        }

    def subset(self, scan_ids: Sequence[str]) -> CubeStore:
        view = CubeStore(
            self.uri, self.storage_options, scan_ids, self.window, self.manifest, self.verify
        )
        view._verified = self._verified  # one record of verified scans per store handle
        return view

    def split(
        self, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    ) -> dict[str, CubeStore]:
        """Train/val/test views that never share a scan (see :func:`split_scans`)."""
        subsets = {s: self.manifest.scans[s].subset for s in self.scan_ids}
        return {k: self.subset(v) for k, v in split_scans(subsets, fractions).items()}


def split_scans(
    subsets: Mapping[str, int | None], fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
) -> dict[str, list[str]]:
    """Assign each scan to one split.

    LUNA16 scans (with a subset) follow the paper: subsets 0–4 train, 5–6 val,
    7–9 test.  Others go by a stable hash of the scan id, so the assignment is
    the same on every machine and does not move when scans are added.
    """
    out: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    edges = np.cumsum(fractions) / np.sum(fractions)
    for sid in sorted(subsets):
        sub = subsets[sid]
        if sub is not None:
            name = next((k for k, r in LUNA16_SPLIT.items() if sub in r), "test")
        else:
            u = int(hashlib.sha256(sid.encode()).hexdigest()[:12], 16) / float(16**12)
            name = ("train", "val", "test")[int(np.searchsorted(edges, u, side="right"))]
        out[name].append(sid)
    return out
