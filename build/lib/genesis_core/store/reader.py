"""Read a committed cube store: length, single cubes, batches, provenance, splits.

Cubes are stored as int16 HU and normalised on read with the range preprocessing stored
for each scan (``unit_range``: the HU window, or per-volume statistics for MRI-style
modes), [−1000, 1000] HU for scans without one; an explicit ``window`` overrides both.
Reads are verified (``verify=False`` skips it): every cube against its CRC32C, every
scan read whole against the manifest's checksum, so a damaged, truncated or deleted
shard is an error naming the store and the scan, never wrong voxels.  How cubes are
fetched (whole scans or byte ranges, concurrently, with a cache): :class:`CubeStore`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from genesis_core.io.storage import Location, LocationLike
from genesis_core.store.cache import ScanCache
from genesis_core.store.integrity import StoreCorruption
from genesis_core.store.manifest import Manifest, read_latest
from genesis_core.store.objects import Objects
from genesis_core.store.shards import (
    ShardError,
    ShardLayout,
    chunk_range,
    decode_chunk,
    decode_shard,
    layout_of,
    parse_index,
)
from genesis_core.store.writer import cube_crc, cube_digest, open_root, scan_path

DEFAULT_WINDOW = (-1000.0, 1000.0)
DEFAULT_CACHE_MB = 1024
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
        store: LocationLike,
        scan_ids: Sequence[str] | None = None,
        manifest: Manifest | None = None,
        verify: bool = True,
    ) -> None:
        self.location = Location.of(store)
        self.uri = uri = self.location.uri
        self.verify = verify
        self._verified: set[str] = set()
        self.manifest = manifest or read_latest(self.location)
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
                self._root = open_root(self.location, mode="r")
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
            got: str | Exception = self._digest(scan_id)
        except Exception as e:  # noqa: BLE001 - a missing or undecodable array is damage
            got = e
        return self._problem(scan_id, got)

    def _problem(self, scan_id: str, got: str | Exception) -> str:
        """Why ``got`` (a checksum as read now, or the error reading it) is not the manifest's."""
        expected = self.manifest.scans[scan_id].checksum
        if not expected:
            return ""
        if isinstance(got, Exception):
            return f"cannot be read ({type(got).__name__}: {str(got)[:200]})"
        if got != expected:
            return f"checksum mismatch (manifest {expected[:12]}…, data {got[:12]}…)"
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
    ``genesis_core.training`` reader protocol.  It is thread-safe, so several loader
    threads may read at once.

    How it reads (see :mod:`genesis_core.store.shards`): each scan's metadata once; a scan
    is read *whole* (one request, every cube decoded, kept in an LRU of ``cache_mb``)
    when ``whole_scans`` is true (block sampling: the next batches want the same scans),
    or when ``whole_scans`` is ``None`` and the whole view fits in the cache; otherwise
    only the cubes asked for are read, by byte range, with the shard index read once.
    Every read of a batch is issued at once (:mod:`genesis_core.store.objects`).
    Verification (``verify=True``): each cube is checked against the CRC32C the writer
    stored for it, and a scan read whole for the first time is checked against the
    manifest's checksum; scans written before per-cube CRCs are read whole on first
    touch to check that checksum.  Arrays in another layout are read through zarr.
    """

    unit = "cube"

    def __init__(
        self,
        store: LocationLike,
        scan_ids: Sequence[str] | None = None,
        window: tuple[float, float] | None = None,
        manifest: Manifest | None = None,
        verify: bool = True,
        cache_mb: float = DEFAULT_CACHE_MB,
        whole_scans: bool | None = None,
    ) -> None:
        super().__init__(store, scan_ids, manifest, verify)
        self.window, self.whole_scans = window, whole_scans
        self._layouts = ScanCache(None)  # scan id → ShardLayout, or None (read through zarr)
        self._indexes = ScanCache(None)  # scan id → shard index, or None (no shard object)
        self._cache = ScanCache(int(cache_mb * 2**20))  # scan id → decoded int16 cubes
        self._objects = Objects(self.location)

    @property
    def requests(self) -> int:
        """Object reads issued so far by this store handle (all its views)."""
        return self._objects.requests

    # -- metadata ------------------------------------------------------------------------

    def _array_key(self, scan_id: str) -> str:
        return scan_path(scan_id, self._group(scan_id))

    def _fetch_layouts(self, scan_ids: Sequence[str]) -> dict[str, ShardLayout | None]:
        return self._layouts.get_many(scan_ids, self._load_layouts)

    def _load_layouts(self, todo: list) -> dict:
        blobs = self._objects.get([(f"{self._array_key(s)}/zarr.json", None, None) for s in todo])
        out = {}
        for sid, blob in zip(todo, blobs, strict=True):
            if blob is None:
                raise self._corrupt(sid, "its array metadata is missing")
            try:
                out[sid] = layout = layout_of(json.loads(blob))
            except ValueError as e:
                raise self._corrupt(sid, f"its array metadata is not JSON ({e})") from None
            listed = self.manifest.scans[sid].n_cubes
            if layout is not None and layout.n != listed:
                raise self._corrupt(
                    sid, f"the manifest lists {listed} cubes, its array holds {layout.n}"
                )
        return out

    def _layout(self, scan_id: str) -> ShardLayout | None:
        return self._fetch_layouts([scan_id])[scan_id]

    def _attrs(self, scan_id: str) -> dict[str, Any]:
        layout = self._layout(scan_id)
        if layout is not None:
            return layout.attrs
        return dict(self._open(self._array_key(scan_id)).attrs)

    def _corrupt(self, scan_id: str, problem: str) -> StoreCorruption:
        return StoreCorruption(
            f"store {self.uri}: scan {scan_id} ({self._group(scan_id)}) fails verification: "
            f"{problem}; run `genesis store verify {self.uri}`"
        )

    def unit_range(self, scan_id: str) -> tuple[float, float]:
        """The (lo, hi) HU that map this scan to [0, 1]."""
        if self.window is not None:
            return self.window
        stored = self._attrs(scan_id).get("unit_range")
        return (float(stored[0]), float(stored[1])) if stored else DEFAULT_WINDOW

    @property
    def cube_shape(self) -> tuple[int, int, int]:
        cfg = self.manifest.config.get("cube_zyx")
        if cfg:
            return tuple(cfg)  # type: ignore[return-value]
        sid = self.scan_ids[0]
        layout = self._layout(sid)
        shape = layout.shape if layout else self._open(self._array_key(sid)).shape
        return tuple(shape[1:])  # type: ignore[return-value]

    # -- whole scans -----------------------------------------------------------------------

    def _decode(self, scan_id: str, data: bytes | None) -> np.ndarray:
        try:
            return checked_cubes(data, self._layout(scan_id), self.verify)  # type: ignore[arg-type]
        except ShardError as e:
            raise self._corrupt(scan_id, str(e)) from None

    def _load_whole(self, scan_ids: list) -> dict:
        """Read, decode and check whole scans (the cache's loader)."""
        reads = [(f"{self._array_key(s)}/{self._layout(s).key}", None, None) for s in scan_ids]  # type: ignore[union-attr]
        out = {}
        for sid, data in zip(scan_ids, self._objects.get(reads), strict=True):
            cubes = self._decode(sid, data)
            if self.verify and sid not in self._verified:
                self._check_digest(sid, cubes)
            out[sid] = cubes
        return out

    def _check_digest(self, scan_id: str, cubes: np.ndarray) -> None:
        expected = self.manifest.scans[scan_id].checksum
        if expected:
            got = cube_digest(cubes, self._attrs(scan_id)["origins_zyx"])
            if got != expected:
                raise self._corrupt(
                    scan_id, f"checksum mismatch (manifest {expected[:12]}…, data {got[:12]}…)"
                )
        self._verified.add(scan_id)

    def _check_crc(self, scan_id: str, j: int, cube: np.ndarray) -> None:
        crcs = self._layout(scan_id).attrs.get("cube_crc32c") if self.verify else None  # type: ignore[union-attr]
        if crcs is not None and cube_crc(cube) != crcs[j]:
            raise self._corrupt(scan_id, f"cube {j} fails its CRC32C")

    def _want_whole(self, scan_id: str) -> bool:
        if self.whole_scans or scan_id in self._cache:
            return True
        if self.verify and scan_id not in self._verified:
            if "cube_crc32c" not in self._layout(scan_id).attrs:  # type: ignore[union-attr]
                return True  # an older store: the manifest checksum is the only check
        if self.whole_scans is None:
            return len(self) * 2 * int(np.prod(self.cube_shape)) <= self._cache.max_bytes
        return False

    # -- cubes by byte range ---------------------------------------------------------------

    def _load_indexes(self, todo: list) -> dict:
        layouts = [self._layout(s) for s in todo]
        reads = [
            (f"{self._array_key(s)}/{lay.key}", -lay.index_bytes, None)
            for s, lay in zip(todo, layouts, strict=True)
        ]  # type: ignore[union-attr]
        out = {}
        for sid, lay, tail in zip(todo, layouts, self._objects.get(reads), strict=True):
            try:
                out[sid] = None if tail is None else parse_index(tail, lay)  # type: ignore[arg-type]
            except ShardError as e:
                raise self._corrupt(sid, str(e)) from None
        return out

    def _read_ranged(self, wanted: dict[str, list[int]]) -> dict[tuple[str, int], np.ndarray]:
        indexes = self._indexes.get_many(list(wanted), self._load_indexes)
        out: dict[tuple[str, int], np.ndarray] = {}
        reads, keys = [], []
        for sid, js in wanted.items():
            layout, index = self._layout(sid), indexes[sid]
            for j in dict.fromkeys(js):
                span = None if index is None else chunk_range(index, j)
                if span is None:  # never written: all fill value, as zarr reads it
                    out[sid, j] = np.full(layout.cube, layout.fill, dtype=np.int16)  # type: ignore[union-attr]
                else:
                    reads.append((f"{self._array_key(sid)}/{layout.key}", *span))  # type: ignore[union-attr]
                    keys.append((sid, j, span[1] - span[0]))
        for (sid, j, size), data in zip(keys, self._objects.get(reads), strict=True):
            layout = self._layout(sid)
            cube = np.empty(layout.cube, dtype=np.int16)  # type: ignore[union-attr]
            try:
                if data is None or len(data) != size:
                    raise ShardError(f"cube {j}: shard is missing or shorter than its index says")
                decode_chunk(data, layout, cube)  # type: ignore[arg-type]
            except ShardError as e:
                raise self._corrupt(sid, str(e)) from None
            out[sid, j] = cube
        for (sid, j), cube in out.items():
            self._check_crc(sid, j, cube)
        return out

    # -- the reader protocol ---------------------------------------------------------------

    def _zarr_array(self, scan_id: str):
        self._ensure_verified(scan_id)
        return self._open(self._array_key(scan_id))

    def read_raw(self, indices: Sequence[int]) -> tuple[np.ndarray, list[str]]:
        """Cubes at ``indices`` as stored (int16 HU) and the scan of each."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(idx) and (idx.min() < 0 or idx.max() >= len(self)):
            bad = int(idx[(idx < 0) | (idx >= len(self))][0])
            raise IndexError(f"{self.unit} {bad} out of range for {len(self)} {self.unit}s")
        ks = np.searchsorted(self._starts, idx, side="right") - 1
        js = (idx - self._starts[ks]).tolist()
        sids = [self.scan_ids[k] for k in ks.tolist()]
        by_scan: dict[str, list[int]] = {}
        for sid, j in zip(sids, js, strict=True):
            by_scan.setdefault(sid, []).append(j)
        layouts = self._fetch_layouts(list(by_scan))
        fast = [s for s in by_scan if layouts[s] is not None]
        whole = [s for s in fast if self._want_whole(s)]
        scans = self._cache.get_many(whole, self._load_whole) if whole else {}
        cubes = self._read_ranged({s: by_scan[s] for s in fast if s not in scans})
        slow = {s: js for s, js in by_scan.items() if layouts[s] is None}
        for sid, sel in slow.items():
            block = self._zarr_array(sid).get_orthogonal_selection((sel,))
            cubes.update({(sid, j): block[i] for i, j in enumerate(sel)})
        out = np.empty((len(idx), *self.cube_shape), dtype=np.int16)
        for p, (sid, j) in enumerate(zip(sids, js, strict=True)):
            out[p] = scans[sid][j] if sid in scans else cubes[sid, j]
        return out, sids

    def read(self, indices: Sequence[int]) -> np.ndarray:
        """Cubes at ``indices`` as float32 (n, D, H, W) in [0, 1]."""
        raw, sids = self.read_raw(indices)
        out = np.empty(raw.shape, dtype=np.float32)
        ranges = {sid: self.unit_range(sid) for sid in dict.fromkeys(sids)}
        for p, sid in enumerate(sids):
            normalise_into(raw[p], ranges[sid], out[p])
        return out

    def raw_cube(self, i: int) -> np.ndarray:
        """Cube ``i`` as stored: int16 HU (D, H, W)."""
        return self.read_raw([i])[0][0]

    def cube(self, i: int) -> np.ndarray:
        """Cube ``i`` normalised to float32 [0, 1] (D, H, W)."""
        return self.read([i])[0]

    def scan_cubes(self, scan_id: str) -> np.ndarray:
        """Every cube of one scan as stored: int16 HU (n, D, H, W), verified like any read."""
        k = self.scan_ids.index(scan_id)
        return self.read_raw(range(int(self._starts[k]), int(self._starts[k + 1])))[0]

    def group_sizes(self) -> list[int]:
        """Cubes per scan, in sample order (for block sampling: one group per scan)."""
        return np.diff(self._starts).tolist()

    # -- verification ----------------------------------------------------------------------

    def _digest(self, scan_id: str) -> str:
        got = self._digests([scan_id])[scan_id]
        if isinstance(got, Exception):
            raise got
        return got

    def _digests(self, scan_ids: Sequence[str]) -> dict[str, str | Exception]:
        """The checksum of each scan as read now, or the error that prevents reading it."""
        layouts = self._fetch_layouts(scan_ids)
        out: dict[str, str | Exception] = {}
        for sid in [s for s in scan_ids if layouts[s] is None]:  # another layout: through zarr
            try:
                arr = self._open(self._array_key(sid))
                out[sid] = cube_digest(np.asarray(arr[...]), arr.attrs["origins_zyx"])
            except Exception as e:  # noqa: BLE001 - a missing or undecodable array is damage
                out[sid] = e
        fast = [s for s in scan_ids if layouts[s] is not None]
        reads = [(f"{self._array_key(s)}/{layouts[s].key}", None, None) for s in fast]  # type: ignore[union-attr]
        for sid, data in zip(fast, self._objects.get(reads), strict=True):
            layout = layouts[sid]
            try:
                cubes = checked_cubes(data, layout)  # type: ignore[arg-type]
            except ShardError as e:
                out[sid] = e
                continue
            out[sid] = cube_digest(cubes, layout.attrs["origins_zyx"])  # type: ignore[union-attr]
        return out

    def verify_all(self) -> dict[str, str]:
        """``{scan_id: problem}`` for every scan ('' = verified), 16 scans read at a time."""
        out: dict[str, str] = {}
        for first in range(0, len(self.scan_ids), 16):
            group = self.scan_ids[first : first + 16]
            try:
                got = self._digests(group)
            except StoreCorruption:  # e.g. metadata missing: one by one, to name each scan
                got = {}
                for sid in group:
                    try:
                        got.update(self._digests([sid]))
                    except StoreCorruption as e:
                        got[sid] = e
            for sid in group:
                out[sid] = self._problem(sid, got[sid])
        self._verified.update(sid for sid, problem in out.items() if not problem)
        return out

    # -- provenance and views --------------------------------------------------------------

    def provenance(self, i: int) -> dict[str, Any]:
        """Scan id, voxel origin (z, y, x) in the resampled grid, spacing and config hash."""
        scan_id, j = self._locate(i)
        attrs = self._attrs(scan_id)
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
            self.location,
            scan_ids,
            self.window,
            self.manifest,
            self.verify,
            whole_scans=self.whole_scans,
        )
        # one handle per store: verified scans, metadata, cache and request count are shared
        view._verified, view._layouts, view._indexes = self._verified, self._layouts, self._indexes
        view._cache, view._objects = self._cache, self._objects
        return view

    def split(
        self, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    ) -> dict[str, CubeStore]:
        """Train/val/test views that never share a scan (see :func:`split_scans`)."""
        subsets = {s: self.manifest.scans[s].subset for s in self.scan_ids}
        return {k: self.subset(v) for k, v in split_scans(subsets, fractions).items()}


def checked_cubes(data: bytes | None, layout: ShardLayout, verify: bool = True) -> np.ndarray:
    """A whole shard decoded, each cube checked against its CRC32C (when stored and ``verify``)."""
    cubes = decode_shard(data, layout)
    crcs = layout.attrs.get("cube_crc32c") if verify else None
    bad = [j for j in range(layout.n) if crcs is not None and cube_crc(cubes[j]) != crcs[j]]
    if bad and data is None:
        raise ShardError("its shard object is missing")
    if bad:
        raise ShardError(f"cube {bad[0]} fails its CRC32C")
    return cubes


def normalise_into(hu: np.ndarray, lohi: tuple[float, float], out: np.ndarray) -> None:
    """``out`` = (clip(hu, lo, hi) − lo) / (hi − lo) in float32, without temporaries."""
    lo, hi = lohi
    np.copyto(out, hu, casting="unsafe")
    np.clip(out, np.float32(lo), np.float32(hi), out=out)
    np.subtract(out, np.float32(lo), out=out)
    np.divide(out, np.float32(hi - lo), out=out)


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
