"""The training read path: direct shard reads equal zarr's, every cube is checked, each scan's
metadata and shard are fetched once, threads share one cache, other layouts go through zarr."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import zarr

from genesis_core.store import CubeStore, commit_scans, read_latest, write_scan
from genesis_core.store.cache import ScanCache
from genesis_core.store.integrity import StoreCorruption
from genesis_core.store.manifest import ScanEntry
from genesis_core.store.writer import cube_digest, open_root

CUBE = (8, 16, 16)


def cubes_for(k: int, n: int = 6) -> np.ndarray:
    cubes = np.random.default_rng(k).integers(-1200, 1500, (n, *CUBE)).astype(np.int16)
    cubes[1] = -1000  # all fill value: zarr does not even write this chunk
    return cubes


def _store(tmp_path: Path, n: int = 5) -> str:
    uri = str(tmp_path / "store")
    entries = []
    for k in range(n):
        origins = np.arange(18).reshape(6, 3) + k
        written = write_scan(uri, f"scan.{k}", cubes_for(k), origins, {"unit_range": [-1000, 400]})
        entries.append(written.entry(f"scan.{k}", f"sha{k}", k % 10))
    commit_scans(uri, entries, {"cube_zyx": list(CUBE)}, "h1")
    return uri


def _shard_bytes(cubes: np.ndarray) -> bytes:
    """A shard in the layout the writer uses (chunks, then the index and its CRC32C)."""
    import google_crc32c
    import numcodecs.blosc as blosc

    body, index = b"", []
    for cube in cubes:
        frame = blosc.compress(np.ascontiguousarray(cube).tobytes(), b"zstd", 3, blosc.SHUFFLE, 2)
        index.append((len(body), len(frame)))
        body += frame
    table = np.asarray(index, dtype="<u8").tobytes()
    return body + table + google_crc32c.value(table).to_bytes(4, "little")


def _zarr_reference(uri: str, indices) -> np.ndarray:
    """What zarr itself reads, normalised as the store always did."""
    m = read_latest(uri)
    root = zarr.open_group(uri, mode="r")
    ids = sorted(m.scans)
    starts = np.cumsum([0] + [m.scans[s].n_cubes for s in ids])
    out = []
    for i in indices:
        k = int(np.searchsorted(starts, i, side="right") - 1)
        hu = root[f"{m.scans[ids[k]].group}/cubes"][int(i - starts[k])]
        out.append(((np.clip(hu, -1000, 400).astype(np.float32) - -1000) / 1400).astype(np.float32))
    return np.stack(out)


@pytest.mark.parametrize("whole", [True, False, None])
def test_direct_reads_equal_zarr_bit_for_bit(tmp_path: Path, whole) -> None:
    uri = _store(tmp_path)
    store = CubeStore(uri, whole_scans=whole)
    order = np.random.default_rng(0).permutation(len(store))
    for first in range(0, len(order), 7):
        idx = order[first : first + 7]
        assert np.array_equal(store.read(idx), _zarr_reference(uri, idx))
    assert (store.raw_cube(1) == -1000).all()  # the chunk that was never written


def test_each_scan_costs_two_requests_whole_and_one_per_cube_by_range(tmp_path: Path) -> None:
    uri = _store(tmp_path)
    whole = CubeStore(uri, whole_scans=True)
    for _epoch in range(2):
        for first in range(0, len(whole), 10):
            whole.read(range(first, min(first + 10, len(whole))))
    assert whole.requests == 2 * 5  # metadata + shard once per scan; the second epoch is cached
    ranged = CubeStore(uri, whole_scans=False)
    ranged.read([0, 2, 3, 7, 14])  # scans 0, 1, 2; cube 7 (scan 1, cube 1) was never written
    assert ranged.requests == 3 + 3 + 4  # metadata, shard index, one range per written cube
    ranged.read([4, 15])
    assert ranged.requests == 10 + 2  # metadata and indexes are kept


@pytest.mark.parametrize("whole", [True, False])
def test_a_flipped_cube_fails_its_crc_even_when_read_alone(tmp_path: Path, whole: bool) -> None:
    uri = _store(tmp_path)
    entry = read_latest(uri).scans["scan.2"]
    shard = next(p for p in (Path(uri) / entry.group / "cubes" / "c").rglob("*") if p.is_file())
    store = CubeStore(uri, whole_scans=whole)
    store._verified.add("scan.2")  # as after an earlier verification: only the CRCs stand guard
    # a well-formed shard (valid Blosc frames, index and index CRC) with one voxel changed
    fake = cubes_for(2)
    fake[3, 0, 0, 0] += 1
    shard.write_bytes(_shard_bytes(fake))
    with pytest.raises(StoreCorruption, match=r"scan\.2.*cube 3 fails its CRC32C"):
        store.read([2 * 6 + 3])


def test_truncated_shard_is_named_not_read_as_fill(tmp_path: Path) -> None:
    uri = _store(tmp_path)
    entry = read_latest(uri).scans["scan.4"]
    shard = next(p for p in (Path(uri) / entry.group / "cubes" / "c").rglob("*") if p.is_file())
    shard.write_bytes(shard.read_bytes()[:-50])
    for whole in (True, False):
        with pytest.raises(StoreCorruption, match=r"scan\.4"):
            CubeStore(uri, whole_scans=whole).read([24])
    assert "scan.4" in {s for s, p in CubeStore(uri).verify_all().items() if p}


def test_other_layouts_are_read_through_zarr(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    cubes = cubes_for(7)
    origins = np.zeros((6, 3))
    root = open_root(uri)
    arr = root.create_array(
        "scans/old/cubes",
        shape=cubes.shape,
        chunks=(2, *CUBE),
        dtype="int16",
        attributes={"origins_zyx": origins.tolist()},
    )
    arr[...] = cubes
    entry = ScanEntry("old", 6, "sha", None, "scans/old", cube_digest(cubes, origins))
    commit_scans(uri, [entry], {"cube_zyx": list(CUBE)}, "h1")
    store = CubeStore(uri)
    assert np.array_equal(store.read_raw([5, 0, 3])[0], cubes[[5, 0, 3]])
    assert store.verify_all() == {"old": ""}


def test_threads_share_one_cache_and_load_each_scan_once(tmp_path: Path) -> None:
    uri = _store(tmp_path)
    store = CubeStore(uri, whole_scans=True)
    results, start = {}, threading.Barrier(4)

    def reader(t: int) -> None:
        start.wait()
        results[t] = store.read(range(len(store)))

    threads = [threading.Thread(target=reader, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(np.array_equal(results[0], r) for r in results.values())
    assert store.requests == 2 * 5 and store._cache.misses == 5


def test_cache_evicts_least_recently_used_and_never_keeps_a_failed_load() -> None:
    cache = ScanCache(max_bytes=2 * 80)
    loads: list = []

    def load(keys):
        loads.extend(keys)
        return {k: np.zeros(10, np.int64) + k for k in keys}  # 80 bytes each

    cache.get_many([1, 2], load)
    cache.get_many([1], load)  # 1 is now the most recent
    cache.get_many([3], load)  # evicts 2
    cache.get_many([1, 2], load)
    assert loads == [1, 2, 3, 2] and cache.bytes <= 160

    def broken(keys):
        raise OSError("server gone")

    with pytest.raises(OSError, match="server gone"):
        cache.get_many([9], broken)
    assert 9 not in cache
    assert cache.get_many([9], load)[9][0] == 9
