"""Cube store contract: atomic visibility, append, idempotence, parallel bit-exactness, S3."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from genesis_core.io.storage import Location, LocationLike
from genesis_core.store import CubeStore, ScanEntry, commit_scans, read_latest, write_scan
from genesis_core.store.manifest import StoreConflict
from genesis_core.store.reader import split_scans

CFG = {"cube_zyx": [8, 16, 16]}


def cubes_for(k: int, n: int = 4) -> np.ndarray:
    return np.random.default_rng(k).integers(-1000, 1000, (n, 8, 16, 16)).astype(np.int16)


def write_and_entry(uri: LocationLike, k: int) -> ScanEntry:
    c = cubes_for(k)
    origins = np.arange(len(c) * 3).reshape(-1, 3) + k
    attrs = {"config_hash": "h1", "spacing_xyz": [1, 1, 1]}
    written = write_scan(uri, f"scan.{k}", c, origins, attrs)
    return written.entry(f"scan.{k}", f"sha{k}", subset=k % 10)


def test_write_commit_read_round_trip(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    entries = [write_and_entry(uri, k) for k in range(3)]
    commit_scans(uri, entries, CFG, "h1")
    store = CubeStore(uri)
    assert len(store) == 12
    np.testing.assert_array_equal(store.raw_cube(5), cubes_for(1)[1])
    batch = store.read([11, 0, 5])
    assert batch.dtype == np.float32 and batch.shape == (3, 8, 16, 16)
    assert 0.0 <= batch.min() and batch.max() <= 1.0
    np.testing.assert_allclose(batch[2], (cubes_for(1)[1] + 1000) / 2000, atol=1e-6)
    prov = store.provenance(5)
    assert prov["scan_id"] == "scan.1" and prov["origin_zyx"] == [4, 5, 6]
    assert prov["config_hash"] == "h1"


def test_uncommitted_scan_is_invisible_then_overwritten(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    commit_scans(uri, [write_and_entry(uri, 0)], CFG, "h1")
    # A crashed run wrote scan.1 (garbage) but never committed it.
    write_scan(uri, "scan.1", np.full((7, 8, 16, 16), 5, np.int16), np.zeros((7, 3)), {})
    assert CubeStore(uri).scan_ids == ["scan.0"] and len(CubeStore(uri)) == 4
    commit_scans(uri, [write_and_entry(uri, 1)], CFG, "h1")
    store = CubeStore(uri)
    assert len(store) == 8
    np.testing.assert_array_equal(store.raw_cube(4), cubes_for(1)[0])


def test_killed_writer_leaves_only_committed_scans(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    commit_scans(uri, [write_and_entry(uri, 0)], CFG, "h1")
    script = textwrap.dedent(f"""
        import os, numpy as np
        from genesis_core.store import write_scan
        write_scan({uri!r}, "scan.9", np.ones((4, 8, 16, 16), np.int16), np.zeros((4, 3)), {{}})
        os._exit(137)  # killed before the commit
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[3])
    assert proc.returncode == 137
    assert read_latest(uri).version == 1 and CubeStore(uri).scan_ids == ["scan.0"]


def test_append_does_not_rewrite_old_scans(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    commit_scans(uri, [write_and_entry(uri, k) for k in range(2)], CFG, "h1")
    shard = next((tmp_path / "store" / "scans" / "scan.0").rglob("c/*/*/*/0"))
    before = (shard.stat().st_mtime_ns, shard.read_bytes())
    m = commit_scans(uri, [write_and_entry(uri, 2)], CFG, "h1")
    assert m.version == 2 and sorted(m.scans) == ["scan.0", "scan.1", "scan.2"]
    assert (shard.stat().st_mtime_ns, shard.read_bytes()) == before


def test_config_change_is_refused(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    commit_scans(uri, [write_and_entry(uri, 0)], CFG, "h1")
    with pytest.raises(StoreConflict, match="built with config"):
        commit_scans(uri, [], CFG, "other")


def _write_one(args) -> ScanEntry:
    uri, k = args
    return write_and_entry(uri, k)


def test_parallel_writes_are_bit_exact(tmp_path: Path) -> None:
    seq, par = str(tmp_path / "seq"), str(tmp_path / "par")
    ks = list(range(12))
    commit_scans(seq, [write_and_entry(seq, k) for k in ks], CFG, "h1")
    with ProcessPoolExecutor(max_workers=4) as ex:
        entries = list(ex.map(_write_one, [(par, k) for k in ks]))
    commit_scans(par, entries, CFG, "h1")
    a, b = CubeStore(seq), CubeStore(par)
    assert len(a) == len(b) == 48
    for i in range(len(a)):
        assert np.array_equal(a.raw_cube(i), b.raw_cube(i)), f"cube {i} differs"


def test_split_never_shares_a_scan() -> None:
    luna = {f"s{k}": k for k in range(10)}
    sp = split_scans(luna)
    assert sp == {
        "train": [f"s{k}" for k in range(5)],
        "val": ["s5", "s6"],
        "test": ["s7", "s8", "s9"],
    }
    other = {f"scan-{k}": None for k in range(200)}
    sp = split_scans(other)
    assert sum(map(len, sp.values())) == 200
    assert not (set(sp["train"]) & set(sp["val"]) or set(sp["val"]) & set(sp["test"]))
    assert 110 < len(sp["train"]) < 170  # ~70 %
    grown = split_scans({**other, "new": None})
    assert all(sid in grown[k] for k, ids in sp.items() for sid in ids), "adding a scan moves none"


def _append_many(args) -> list[int]:
    uri, ks = args
    return [commit_scans(uri, [write_and_entry(uri, k)], CFG, "h1").version for k in ks]


def test_concurrent_appends_all_land(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    commit_scans(uri, [write_and_entry(uri, 0)], CFG, "h1")
    with ProcessPoolExecutor(max_workers=2) as ex:
        versions = list(ex.map(_append_many, [(uri, range(1, 9)), (uri, range(9, 17))]))
    flat = sorted(v for vs in versions for v in vs)
    assert flat == list(range(2, 18))  # every version won by exactly one commit
    m = read_latest(uri)
    assert m.version == 17 and sorted(m.scans) == sorted(f"scan.{k}" for k in range(17))
    CubeStore(uri).verify_store()


def test_replace_that_loses_the_race_raises(tmp_path: Path, monkeypatch) -> None:
    from genesis_core.store import manifest as mf

    uri = str(tmp_path / "store")
    commit_scans(uri, [write_and_entry(uri, 0)], CFG, "h1")
    real = mf.read_latest
    stale = real(uri)
    commit_scans(uri, [write_and_entry(uri, 1)], CFG, "h1")  # the racing writer's commit
    monkeypatch.setattr(mf, "read_latest", lambda *a, **k: stale)
    with pytest.raises(StoreConflict, match="concurrent writer"):
        commit_scans(uri, [write_and_entry(uri, 2)], CFG, "h1", replace=True)
    monkeypatch.setattr(mf, "read_latest", real)
    assert sorted(read_latest(uri).scans) == ["scan.0", "scan.1"]


def test_pointer_that_lags_never_moves_readers_back(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    commit_scans(uri, [write_and_entry(uri, 0)], CFG, "h1")
    commit_scans(uri, [write_and_entry(uri, 1)], CFG, "h1")
    (tmp_path / "store" / "manifests" / "latest.json").write_text('{"version": 1}')  # killed writer
    assert read_latest(uri).version == 2
    assert commit_scans(uri, [write_and_entry(uri, 2)], CFG, "h1").version == 3


@pytest.mark.integration
def test_s3_round_trip(s3_env) -> None:
    fs = s3_env
    fs.mkdir("cubes")
    opts = {"client_kwargs": {"endpoint_url": fs.client_kwargs["endpoint_url"]}}
    where = Location("s3://cubes/store1", opts)
    commit_scans(where, [write_and_entry(where, k) for k in range(3)], CFG, "h1")
    store = CubeStore(where)
    assert len(store) == 12
    np.testing.assert_array_equal(store.raw_cube(9), cubes_for(2)[1])
    objects = [p for p in fs.find("cubes/store1") if "/c/" in p]
    assert len(objects) == 3, objects  # one shard object per scan


def test_reader_normalises_with_the_range_stored_per_scan(tmp_path: Path) -> None:
    """Preprocessing stores each scan's unit_range (a HU window, or per-volume statistics):
    reads use it, not a fixed −1000…1000 window."""
    uri = str(tmp_path / "store")
    c = np.full((2, 8, 16, 16), 250, np.int16)
    e1 = write_scan(uri, "mri", c, np.zeros((2, 3)), {"unit_range": [0.0, 500.0]}).entry("mri", "x")
    e2 = write_scan(uri, "ct", c, np.zeros((2, 3)), {}).entry("ct", "y")
    commit_scans(uri, [e1, e2], CFG, "h1")
    store = CubeStore(uri)
    ct, mri = store.read([0, 2])  # scan ids sort: "ct" first
    np.testing.assert_allclose(mri, 0.5)  # 250 in [0, 500]
    np.testing.assert_allclose(ct, (250 + 1000) / 2000)  # no stored range: the CT window
    np.testing.assert_allclose(store.cube(2), 0.5)
    np.testing.assert_allclose(CubeStore(uri, window=(-1000.0, 1000.0)).cube(2), 0.625)
