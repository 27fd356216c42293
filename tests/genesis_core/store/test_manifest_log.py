"""Manifests as a log of deltas with periodic checkpoints: any version reads the same as
the full set it stands for, commits cost what they add, and incremental commits keep
finished scans when a run dies."""

from __future__ import annotations

from pathlib import Path

import pytest

from genesis_core.store import manifest as mf
from genesis_core.store.committer import Committer
from genesis_core.store.integrity import unseal
from genesis_core.store.manifest import ScanEntry, commit_scans, read_latest, read_version

CFG = {"cube_zyx": [8, 16, 16]}


def _entry(k: int) -> ScanEntry:
    return ScanEntry(f"s{k:05d}", 4, f"sha{k}", k % 10, f"scans/s{k:05d}/g1", f"c{k}")


def test_any_version_reads_as_the_full_set(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    expected: dict[int, set[str]] = {}
    ids: set[str] = set()
    for v in range(1, 71):
        commit_scans(uri, [_entry(2 * v), _entry(2 * v + 1)], CFG, "h")
        ids |= {f"s{2 * v:05d}", f"s{2 * v + 1:05d}"}
        expected[v] = set(ids)
    kinds = {
        int(p.stem): unseal(p.read_bytes(), p.name).get("kind")
        for p in (tmp_path / "store" / "manifests").glob("0*.json")
    }
    checkpoints = sorted(v for v, k in kinds.items() if k == "checkpoint")
    # a checkpoint once the deltas above the last one are many and add a quarter of its scans
    assert checkpoints[0] == 1 and len(checkpoints) >= 2
    assert all(
        b - a > mf.CHECKPOINT_EVERY for a, b in zip(checkpoints, checkpoints[1:], strict=False)
    )
    assert kinds[2] == kinds[33] == kinds[70] == "delta"
    mf._CACHE.clear()  # a fresh reader, nothing cached
    for v in sorted({1, 2, 31, 32, 33, 63, 64, 70, *checkpoints, *(c + 1 for c in checkpoints)}):
        m = read_version(uri, v)
        assert set(m.scans) == expected[v] and m.version == v and m.config == CFG
    assert read_latest(uri).scans["s00140"] == _entry(140)


def test_a_delta_is_small_whatever_the_store_size(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    commit_scans(uri, [_entry(k) for k in range(5000)], CFG, "h")
    commit_scans(uri, [_entry(99999)], CFG, "h")
    sizes = {p.stem: p.stat().st_size for p in (tmp_path / "store" / "manifests").glob("0*.json")}
    assert sizes["000001"] > 500_000 and sizes["000002"] < 1_000


def test_committer_commits_as_results_arrive_and_a_crash_keeps_them(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    c = Committer(uri, CFG, "h", every_n=2, every_s=3600)
    results = [
        {
            "scan_id": f"s{k}",
            "n_cubes": 4,
            "status": "ok",
            "source_sha256": "x",
            "subset": None,
            "path": f"scans/s{k}/g",
            "checksum": "c",
        }
        for k in range(5)
    ]
    for r in results[:3]:
        c.add(r)
    assert read_latest(uri).version == 1 and len(read_latest(uri).scans) == 2
    # the run dies here: the two committed scans stay committed, the third is redone
    c2 = Committer(uri, CFG, "h", every_n=2, every_s=3600)
    for r in results[2:]:
        c2.add(r)
    assert len(c2.close().scans) == 5


def test_replace_run_keeps_only_what_it_rebuilt(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    commit_scans(uri, [_entry(k) for k in range(6)], CFG, "h")
    c = Committer(uri, {"cube_zyx": [8, 8, 8]}, "h2", replace=True, every_n=1)
    for k in (1, 2):
        c.add({"scan_id": f"s{k:05d}", "n_cubes": 4, "status": "ok", "path": "p", "checksum": "c"})
    m = c.close()
    assert sorted(m.scans) == ["s00001", "s00002"] and m.config_hash == "h2"
    with pytest.raises(mf.StoreConflict):
        commit_scans(uri, [_entry(9)], CFG, "h")  # the old config is gone
