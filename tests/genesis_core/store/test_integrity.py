"""Committed data never changes and every read is verified: damaged, truncated and deleted
shards are errors naming the store and scan; a rebuild killed before its commit leaves the
committed manifest reading exactly what it read; gc removes only what no manifest reads."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from genesis_core.store import CubeStore, commit_scans, read_latest, write_scan
from genesis_core.store.gc import gc_store
from genesis_core.store.integrity import StoreCorruption

CFG = {"cube_zyx": [8, 16, 16]}


def cubes_for(k: int, n: int = 4) -> np.ndarray:
    return np.random.default_rng(k).integers(-1000, 1000, (n, 8, 16, 16)).astype(np.int16)


def _store(tmp_path: Path, n: int = 3) -> str:
    uri = str(tmp_path / "store")
    entries = []
    for k in range(n):
        written = write_scan(uri, f"scan.{k}", cubes_for(k), np.zeros((4, 3)) + k, {})
        entries.append(written.entry(f"scan.{k}", f"sha{k}", k % 10))
    commit_scans(uri, entries, CFG, "h1")
    return uri


def _shard(uri: str, scan_id: str) -> Path:
    entry = read_latest(uri).scans[scan_id]
    (shard,) = [p for p in (Path(uri) / entry.group / "cubes" / "c").rglob("*") if p.is_file()]
    return shard


def _all_cubes(uri: str) -> np.ndarray:
    store = CubeStore(uri)
    return np.stack([store.raw_cube(i) for i in range(len(store))])


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_damaged_shard_is_an_error_never_wrong_voxels(tmp_path: Path, damage: str) -> None:
    uri = _store(tmp_path)
    shard = _shard(uri, "scan.1")
    data = bytearray(shard.read_bytes())
    if damage == "flip":
        for i in range(40, 60):
            data[i] ^= 0xFF
        shard.write_bytes(bytes(data))
    elif damage == "truncate":
        shard.write_bytes(bytes(data[: len(data) // 2]))
    else:
        shard.unlink()
    store = CubeStore(uri)
    np.testing.assert_array_equal(store.raw_cube(0), cubes_for(0)[0])  # scan.0 is fine
    with pytest.raises(StoreCorruption) as e:
        store.raw_cube(4)
    assert uri in str(e.value) and "scan.1" in str(e.value)
    with pytest.raises(StoreCorruption, match="1 of 3 scans fail verification"):
        CubeStore(uri).verify_store()
    report = CubeStore(uri, verify=False).verify_all()
    assert report["scan.0"] == report["scan.2"] == "" and report["scan.1"]
    if damage == "delete":  # unverified, Zarr would have read an all-air scan
        assert (CubeStore(uri, verify=False).raw_cube(4) == -1000).all()


def test_rebuild_killed_before_commit_changes_nothing(tmp_path: Path) -> None:
    uri = _store(tmp_path)
    before = _all_cubes(uri)
    shard_bytes = {s: _shard(uri, s).read_bytes() for s in read_latest(uri).scans}
    script = textwrap.dedent(f"""
        import os, numpy as np
        from genesis_core.store import write_scan
        for k in range(3):  # a --force rebuild with another cube shape, killed before committing
            write_scan({uri!r}, f"scan.{{k}}", np.ones((2, 4, 8, 8), np.int16), np.zeros((2, 3)), {{}})
        os._exit(137)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[3])
    assert proc.returncode == 137
    np.testing.assert_array_equal(_all_cubes(uri), before)
    assert {s: _shard(uri, s).read_bytes() for s in read_latest(uri).scans} == shard_bytes
    CubeStore(uri).verify_store()


def test_forced_rebuild_commits_new_generations_and_gc_collects_old(tmp_path: Path) -> None:
    uri = _store(tmp_path)
    old = {s: e.group for s, e in read_latest(uri).scans.items()}
    entries = [
        write_scan(uri, f"scan.{k}", cubes_for(k + 10), np.zeros((4, 3)), {}).entry(
            f"scan.{k}", f"sha{k}", k
        )
        for k in range(3)
    ]
    write_scan(
        uri, "scan.9", cubes_for(9), np.zeros((4, 3)), {}
    )  # a crashed, never-committed attempt
    commit_scans(uri, entries, CFG, "h2", replace=True)
    new = {s: e.group for s, e in read_latest(uri).scans.items()}
    assert all(new[s] != old[s] for s in old)
    assert all((Path(uri) / g).exists() for g in old.values())  # nothing deleted by the commit
    # within the retention window the old version may still be read: nothing of it goes
    kept = gc_store(uri, grace_seconds=3600)
    assert kept["superseded"] == [] and all((Path(uri) / g).exists() for g in old.values())
    dry = gc_store(uri, grace_seconds=3600, dry_run=True, retention_seconds=0)
    assert sorted(dry["superseded"]) == sorted(old.values()) and dry["stale"] == []
    assert all((Path(uri) / g).exists() for g in old.values())
    report = gc_store(uri, grace_seconds=0, retention_seconds=0)
    assert sorted(report["superseded"]) == sorted(old.values())
    assert len(report["stale"]) == 1 and report["stale"][0].startswith("scans/scan.9/")
    assert not any((Path(uri) / g).exists() for g in old.values())
    np.testing.assert_array_equal(CubeStore(uri).raw_cube(0), cubes_for(10)[0])
    CubeStore(uri).verify_store()


def test_legacy_store_without_generations_still_reads(tmp_path: Path) -> None:
    import json

    import zarr

    uri = str(tmp_path / "old")
    root = zarr.open_group(uri, mode="a", zarr_format=3)
    arr = root.create_array(
        "scans/s0/cubes",
        shape=(4, 8, 16, 16),
        dtype="int16",
        chunks=(1, 8, 16, 16),
        attributes={"origins_zyx": [[0, 0, 0]] * 4},
    )
    arr[...] = cubes_for(0)
    (tmp_path / "old" / "manifests").mkdir()
    manifest = {
        "version": 1,
        "config_hash": "h",
        "config": CFG,
        "created": "",
        "scans": {"s0": {"scan_id": "s0", "n_cubes": 4, "source_sha256": "x", "subset": 0}},
    }
    (tmp_path / "old" / "manifests" / "000001.json").write_text(json.dumps(manifest))
    (tmp_path / "old" / "manifests" / "latest.json").write_text('{"version": 1}')
    store = CubeStore(uri)
    np.testing.assert_array_equal(store.raw_cube(3), cubes_for(0)[3])
    assert store.verify_all() == {"s0": ""}  # nothing to check against: reported as such by the CLI
