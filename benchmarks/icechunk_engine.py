"""A prototype of the cube store on Icechunk 1.1, behind the same operations as ours.

Only for the engine comparison in ``benchmarks/store_engines.py``; nothing in
``genesis_core`` imports it.  Mapping of our store onto Icechunk:

* **write a scan**: ``scans/<scan_id>/cubes`` int16 (n, D, H, W), one chunk per cube, one
  shard per scan, Blosc zstd (``writer.COMPRESSOR``), attributes ``origins_zyx``,
  ``cube_crc32c``, ``scan_id``, ``source_sha256``, ``subset``, ``checksum`` (SHA-256 of the
  scan, as our manifest entry) — written into a writable session (no generations: every
  session is copy-on-write, uncommitted writes are invisible);
* **commit**: ``session.commit(message, metadata=...)``; the commit metadata carries the
  provenance our manifest carries (config hash, config, and the entries this commit adds:
  n_cubes, checksum, subset, source sha).  A commit on a moved branch raises
  ``ConflictError`` (Icechunk's fencing); ``rebase=True`` rebases with ``ConflictDetector``
  (appends of different scans merge, as ours retries appends);
* **read**: a read-only session on one snapshot id; zarr reads through ``session.store``;
  every cube is checked against its stored CRC32C, a scan read whole against its checksum;
* **list**: the ``scans/`` children of a snapshot, each array's metadata (shape, attrs);
* **gc**: ``expire_snapshots(now - retention)`` then ``garbage_collect(now - retention)``;
* **parallel writers**: ``Session.fork()`` → pickled ``ForkSession`` per worker process →
  pickled back → ``Session.merge(*forks)`` → one commit (:func:`parallel_write`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import pickle
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

import icechunk as ic
import numpy as np
import zarr
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

from genesis_core.store.writer import COMPRESSOR, cube_crc, cube_digest

PROTO = default_buffer_prototype()
DEFAULT_WINDOW = (-1000.0, 1000.0)


class Corruption(RuntimeError):
    """Committed data does not match its checksum (names the repo, snapshot and scan)."""


# -- storage ---------------------------------------------------------------------------


def storage(uri: str, opts: dict | None = None) -> ic.Storage:
    """A local path, or ``s3://bucket/prefix`` with s3fs-style options (key, secret, endpoint)."""
    if "://" not in uri or uri.startswith("file://"):
        return ic.local_filesystem_storage(uri.removeprefix("file://"))
    u = urlparse(uri)
    opts = opts or {}
    ck = opts.get("client_kwargs", {})
    return ic.s3_storage(
        bucket=u.netloc,
        prefix=u.path.strip("/") or None,
        endpoint_url=ck.get("endpoint_url"),
        region=ck.get("region_name", "us-east-1"),
        allow_http=True,
        force_path_style=True,
        access_key_id=opts.get("key"),
        secret_access_key=opts.get("secret"),
    )


def create(uri: str, opts: dict | None = None) -> ic.Repository:
    return ic.Repository.create(storage(uri, opts))


def open_repo(uri: str, opts: dict | None = None) -> ic.Repository:
    return ic.Repository.open(storage(uri, opts))


# -- writer ------------------------------------------------------------------------------


def array_key(scan_id: str) -> str:
    return f"scans/{scan_id}/cubes"


def write_scan(
    session: ic.Session,
    scan_id: str,
    cubes: np.ndarray,
    origins_zyx,
    attrs: dict[str, Any],
    source_sha256: str = "",
    subset: int | None = None,
) -> dict[str, Any]:
    """Write one scan into ``session`` (uncommitted); returns its manifest-like entry."""
    if cubes.dtype != np.int16 or cubes.ndim != 4:
        raise ValueError(f"cubes must be int16 (n, D, H, W), got {cubes.dtype} {cubes.shape}")
    origins = np.asarray(origins_zyx).tolist()
    checksum = cube_digest(cubes, origins)
    root = zarr.open_group(store=session.store, mode="a", zarr_format=3)
    arr = root.create_array(
        array_key(scan_id),
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
            "source_sha256": source_sha256,
            "subset": subset,
            "checksum": checksum,
        },
    )
    arr[...] = cubes
    return {
        "scan_id": scan_id,
        "n_cubes": int(cubes.shape[0]),
        "source_sha256": source_sha256,
        "subset": subset,
        "path": array_key(scan_id),
        "checksum": checksum,
    }


def write_metadata_only(session: ic.Session, entries: Sequence[dict], meta: dict) -> None:
    """Create array nodes (metadata, no chunks) for ``entries`` concurrently: the store
    layout a real scan has, without its data (the commit benchmark's synthetic scans).
    ``meta``: a template array ``zarr.json`` dict; each entry's ``attributes`` are its own."""
    group = json.dumps({"attributes": {}, "zarr_format": 3, "node_type": "group"}).encode()

    async def put(batch):
        await asyncio.gather(*(session.store.set(k, PROTO.buffer.from_bytes(v)) for k, v in batch))

    batch: list[tuple[str, bytes]] = []
    if not sync(session.store.exists("scans/zarr.json")):  # Icechunk lists only real nodes
        batch += [("zarr.json", group), ("scans/zarr.json", group)]
    for e in entries:
        m = {**meta, "attributes": e["attributes"], "shape": [e["n_cubes"], *meta["shape"][1:]]}
        m["codecs"] = json.loads(json.dumps(meta["codecs"]))
        m["codecs"][0]["configuration"]["chunk_shape"] = [1, *meta["shape"][1:]]
        m["chunk_grid"] = {
            "name": "regular",
            "configuration": {"chunk_shape": [e["n_cubes"], *meta["shape"][1:]]},
        }
        batch.append((f"scans/{e['scan_id']}/zarr.json", group))
        batch.append((f"scans/{e['scan_id']}/cubes/zarr.json", json.dumps(m).encode()))
        if len(batch) >= 4000:
            sync(put(batch))
            batch = []
    if batch:
        sync(put(batch))


def template_meta(cube_zyx=(32, 64, 64), n: int = 32) -> dict:
    """The ``zarr.json`` our writer produces for an (n, *cube_zyx) scan (attributes empty)."""
    s = ic.Repository.create(ic.in_memory_storage()).writable_session("main")
    root = zarr.open_group(store=s.store, mode="a", zarr_format=3)
    root.create_array(
        "t",
        shape=(n, *cube_zyx),
        chunks=(1, *cube_zyx),
        shards=(n, *cube_zyx),
        dtype="int16",
        compressors=COMPRESSOR,
        fill_value=-1000,
    )
    return json.loads(sync(s.store.get("t/zarr.json", PROTO)).to_bytes())


def commit_scans(
    session: ic.Session,
    entries: Sequence[dict],
    config: dict[str, Any],
    config_hash: str,
    rebase: bool = True,
    message: str = "commit scans",
) -> str:
    """Commit the session with our manifest's provenance in the commit metadata.

    ``rebase``: a commit that lost the race is rebased with ``ConflictDetector`` (succeeds
    when the two commits touched different scans) and retried; otherwise it raises
    ``ic.ConflictError``."""
    meta = {
        "config_hash": config_hash,
        "config": config,
        "scans": {e["scan_id"]: {k: v for k, v in e.items() if k != "attributes"} for e in entries},
    }
    if rebase:
        return session.commit(message, metadata=meta, rebase_with=ic.ConflictDetector())
    return session.commit(message, metadata=meta)


# -- listing ------------------------------------------------------------------------------


def list_scans(session: ic.Session) -> dict[str, dict[str, Any]]:
    """``{scan_id: {"n_cubes", "checksum", "subset", "source_sha256", "attrs"}}`` of the
    session's snapshot: the ``scans/`` children, each array's metadata read concurrently."""
    store = session.store

    async def go():
        ids = [k.rstrip("/") async for k in store.list_dir("scans/")]
        ids = [k for k in ids if k != "zarr.json"]
        blobs = await asyncio.gather(*(store.get(f"{array_key(s)}/zarr.json", PROTO) for s in ids))
        return ids, blobs

    ids, blobs = sync(go())
    out = {}
    for sid, blob in zip(ids, blobs, strict=True):
        if blob is None:
            continue  # a group without a cube array
        m = json.loads(blob.to_bytes())
        a = m.get("attributes", {})
        out[sid] = {
            "n_cubes": int(m["shape"][0]),
            "checksum": a.get("checksum", ""),
            "subset": a.get("subset"),
            "source_sha256": a.get("source_sha256", ""),
            "attrs": a,
        }
    return dict(sorted(out.items()))


# -- reader -------------------------------------------------------------------------------


class IcechunkCubeReader:
    """The scans of one snapshot as one index of cubes (our ``CubeStore`` read protocol).

    ``whole_scans``: read each touched scan whole (one shard request, kept in an LRU of
    ``cache_mb``, checked against its SHA-256 on first load), else single cubes through
    zarr's sharding codec (index + chunk range per cube), every read of a batch at once.
    Every cube is checked against its stored CRC32C (``verify``)."""

    def __init__(
        self,
        repo: ic.Repository,
        snapshot_id: str | None = None,
        branch: str = "main",
        verify: bool = True,
        whole_scans: bool = False,
        cache_mb: float = 1024,
        name: str = "",
    ) -> None:
        self.session = (
            repo.readonly_session(snapshot_id=snapshot_id)
            if snapshot_id
            else repo.readonly_session(branch=branch)
        )
        self.snapshot_id = self.session.snapshot_id
        self.name = name or "icechunk repo"
        self.verify, self.whole_scans = verify, whole_scans
        self.scans = list_scans(self.session)
        self.scan_ids = list(self.scans)
        counts = np.array([self.scans[s]["n_cubes"] for s in self.scan_ids], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._root = zarr.open_group(store=self.session.store, mode="r", zarr_format=3)
        self._arrays: dict[str, Any] = {}
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_bytes, self._max_bytes = 0, int(cache_mb * 2**20)

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _array(self, sid: str):
        if sid not in self._arrays:
            self._arrays[sid] = self._root[array_key(sid)]
        return self._arrays[sid]

    def _corrupt(self, sid: str, problem: str) -> Corruption:
        return Corruption(
            f"{self.name} snapshot {self.snapshot_id}: scan {sid} ({array_key(sid)}) {problem}"
        )

    def _check(self, sid: str, j: int, cube: np.ndarray) -> None:
        if self.verify and cube_crc(cube) != self.scans[sid]["attrs"]["cube_crc32c"][j]:
            raise self._corrupt(sid, f"cube {j} fails its CRC32C")

    def _load_whole(self, sids: list[str]) -> None:
        for s in sids:
            self._array(s)

        async def go():
            return await asyncio.gather(
                *(self._array(s)._async_array.getitem(slice(None)) for s in sids),
                return_exceptions=True,
            )

        for sid, got in zip(sids, sync(go()), strict=True):
            if isinstance(got, Exception):
                raise self._corrupt(sid, f"cannot be read ({type(got).__name__}: {got})") from got
            cubes = np.asarray(got)
            if self.verify:
                for j in range(len(cubes)):
                    self._check(sid, j, cubes[j])
                want = self.scans[sid]["checksum"]
                if want and cube_digest(cubes, self.scans[sid]["attrs"]["origins_zyx"]) != want:
                    raise self._corrupt(sid, "checksum mismatch")
            self._cache[sid] = cubes
            self._cache_bytes += cubes.nbytes
            while self._cache_bytes > self._max_bytes and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._cache_bytes -= old.nbytes

    def read_raw(self, indices: Sequence[int]) -> tuple[np.ndarray, list[str]]:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        ks = np.searchsorted(self._starts, idx, side="right") - 1
        js = (idx - self._starts[ks]).tolist()
        sids = [self.scan_ids[k] for k in ks.tolist()]
        if self.whole_scans:
            todo = [s for s in dict.fromkeys(sids) if s not in self._cache]
            if todo:
                self._load_whole(todo)
            for s in dict.fromkeys(sids):
                self._cache.move_to_end(s)
            return np.stack([self._cache[s][j] for s, j in zip(sids, js, strict=True)]), sids
        for s in dict.fromkeys(sids):
            self._array(s)

        async def go():
            return await asyncio.gather(
                *(self._array(s)._async_array.getitem((j,)) for s, j in zip(sids, js, strict=True)),
                return_exceptions=True,
            )

        got = sync(go())
        out = np.empty((len(idx), *self._array(sids[0]).shape[1:]), dtype=np.int16)
        for p, (sid, j, cube) in enumerate(zip(sids, js, got, strict=True)):
            if isinstance(cube, Exception):
                raise self._corrupt(sid, f"cannot be read ({type(cube).__name__}: {cube})")
            self._check(sid, j, cube)
            out[p] = cube
        return out, sids

    def read(self, indices: Sequence[int]) -> np.ndarray:
        raw, sids = self.read_raw(indices)
        out = np.empty(raw.shape, dtype=np.float32)
        for p, sid in enumerate(sids):
            lo, hi = self.scans[sid]["attrs"].get("unit_range") or DEFAULT_WINDOW
            np.copyto(out[p], raw[p], casting="unsafe")
            np.clip(out[p], lo, hi, out=out[p])
            out[p] -= lo
            out[p] /= hi - lo
        return out


# -- gc -----------------------------------------------------------------------------------


def gc(repo: ic.Repository, retention_s: float) -> tuple[set[str], Any]:
    """Expire snapshots older than the retention window, then delete what nothing reaches."""
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=retention_s)
    expired = repo.expire_snapshots(cutoff)
    return expired, repo.garbage_collect(cutoff)


# -- parallel writers ---------------------------------------------------------------------


def _fork_worker(args: tuple[bytes, list[tuple[str, int]]]) -> bytes:
    """In a worker process: unpickle a ForkSession, write its scans, pickle it back."""
    blob, jobs = args
    fork = pickle.loads(blob)
    for sid, seed in jobs:
        cubes = np.random.default_rng(seed).integers(-1000, 1000, (4, 8, 16, 16)).astype(np.int16)
        write_scan(fork, sid, cubes, np.zeros((4, 3), int) + seed, {}, f"sha{seed}", seed % 10)
    return pickle.dumps(fork)


def parallel_write(repo: ic.Repository, jobs: list[tuple[str, int]], workers: int = 2) -> str:
    """Write scans from several processes into one commit (fork → workers → merge → commit)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    session = repo.writable_session("main")
    parts = [jobs[i::workers] for i in range(workers)]
    forks = [pickle.dumps(session.fork()) for _ in parts]
    # spawn: a forked child of a process running Icechunk's (tokio) runtime hangs
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
        back = list(ex.map(_fork_worker, zip(forks, parts, strict=True)))
    session.merge(*(pickle.loads(b) for b in back))
    return session.commit("parallel write", metadata={"scans": [s for s, _ in jobs]})
