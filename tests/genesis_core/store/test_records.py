"""Records about the data are checked like the data: every manifest record, delta and the
pointer carries its checksum, the log is a chain, a gap is an error naming the file, a
writer that lost its lease never commits, and gc keeps what a pinned reader still reads.

Each test builds its own damage; on the code before records were sealed each of them
fails (a flipped bit read as a different cube count or split, a lost pointer and delta
read silently as an older version, a paused writer's retry committed)."""

from __future__ import annotations

import random
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from genesis_core.store import CubeStore, commit_scans, read_latest
from genesis_core.store import manifest as mf
from genesis_core.store.committer import Committer
from genesis_core.store.gc import gc_store
from genesis_core.store.integrity import StoreCorruption, seal, unseal
from genesis_core.store.lock import StoreLock
from genesis_core.store.manifest import StoreConflict, log_records, read_version
from tests.genesis_core.store.test_store import CFG, write_and_entry


def _fresh() -> None:
    mf._CACHE.clear()  # a new reader: nothing remembered from the writer


def _store_with_log(tmp_path: Path, n: int = 5) -> str:
    """A store whose log has a checkpoint (v1) and deltas (v2..vn), with real arrays."""
    uri = str(tmp_path / "store")
    for k in range(n):
        commit_scans(uri, [write_and_entry(uri, k)], CFG, "h1")
    return uri


def _record(uri: str, v: int) -> Path:
    return Path(uri) / "manifests" / f"{v:06d}.json"


def _flips(data: bytes, seed: int = 0):
    """One flipped bit in every byte of ``data`` (a random bit each time)."""
    rng = random.Random(seed)
    for i in range(len(data)):
        b = bytearray(data)
        b[i] ^= 1 << rng.randrange(8)
        yield i, bytes(b)


@pytest.mark.parametrize("version", [1, 3, 5], ids=["checkpoint", "delta-mid", "delta-top"])
def test_a_flipped_bit_in_any_record_is_an_error_naming_it(tmp_path: Path, version: int) -> None:
    uri = _store_with_log(tmp_path)
    _fresh()
    truth = read_latest(uri)
    path = _record(uri, version)
    original = path.read_bytes()
    for i, damaged in _flips(original):
        path.write_bytes(damaged)
        _fresh()
        with pytest.raises(StoreCorruption, match=path.name) as err:
            read_latest(uri)
        assert "damaged" in str(err.value) or "does not follow" in str(err.value), i
    path.write_bytes(original)
    _fresh()
    assert read_latest(uri) == truth


def test_a_damaged_pointer_is_only_a_hint(tmp_path: Path) -> None:
    uri = _store_with_log(tmp_path)
    ptr = Path(uri) / "manifests" / "latest.json"
    original = ptr.read_bytes()
    for _, damaged in _flips(original, seed=1):
        ptr.write_bytes(damaged)
        _fresh()
        assert mf.latest_version(uri) == 5
    for garbage in (b"\xff\xfe\x00garbage", b"", b'{"version": 2}', seal({"version": "x"})):
        ptr.write_bytes(garbage)
        _fresh()
        assert read_latest(uri).version == 5  # never a silently older version
    ptr.unlink()
    assert read_latest(uri).version == 5
    commit_scans(uri, [write_and_entry(uri, 9)], CFG, "h1")  # and the store stays writable
    assert unseal(ptr.read_bytes(), "latest.json")["version"] == 6


def test_a_gap_in_the_log_is_an_error_and_no_writer_forks_it(tmp_path: Path) -> None:
    uri = _store_with_log(tmp_path)
    (Path(uri) / "manifests" / "latest.json").unlink()
    _record(uri, 3).unlink()
    _fresh()
    with pytest.raises(StoreCorruption, match="000003.json is missing"):
        read_latest(uri)
    with pytest.raises(StoreCorruption, match="000003.json is missing"):
        commit_scans(uri, [write_and_entry(uri, 8)], CFG, "h1")
    with pytest.raises(StoreCorruption, match="000003.json is missing"):
        StoreLock(uri, timeout_s=1).acquire()  # a writer cannot even start on it
    assert not _record(uri, 6).exists() and not _record(uri, 3).exists()  # no fork, no refill
    with pytest.raises(StoreCorruption, match="000003.json is missing"):
        log_records(uri)


def test_a_pointer_naming_a_lost_version_is_an_error(tmp_path: Path) -> None:
    uri = _store_with_log(tmp_path)
    _record(uri, 5).unlink()
    _fresh()
    with pytest.raises(StoreCorruption, match="names version 5.*000005.json is missing"):
        read_latest(uri)


def test_a_replaced_version_breaks_the_chain(tmp_path: Path) -> None:
    """A well-formed record that is not the one the log committed (e.g. copied from
    another store) is refused by the record above it."""
    uri = _store_with_log(tmp_path)
    other = _store_with_log(tmp_path / "other")
    shutil.copy(_record(other, 3), _record(uri, 3))
    _fresh()
    with pytest.raises(StoreCorruption, match="000004.json does not follow .*000003.json"):
        read_latest(uri)


def test_a_count_that_disagrees_with_the_array_is_named(tmp_path: Path) -> None:
    """Even a record rewritten with a valid checksum (a buggy writer) cannot make a reader
    index past a scan's cubes: the count is checked against the array."""
    uri = str(tmp_path / "store")
    e = write_and_entry(uri, 0)
    commit_scans(uri, [replace(e, n_cubes=e.n_cubes + 1)], CFG, "h1")
    _fresh()
    store = CubeStore(uri)
    with pytest.raises(StoreCorruption, match="lists 5 cubes, its array holds 4"):
        store.raw_cube(4)
    assert "lists 5 cubes" in store.verify_all()["scan.0"]


# -- fencing -------------------------------------------------------------------------------

PAUSE_POINTS = ["before-check", "after-check", "after-base-read", "before-create", "after-create"]


def _other_writer_takes_over(uri: str, dead: StoreLock) -> None:
    """While ``dead`` sleeps: its lease expires, another writer breaks it, commits, and gc
    runs with no retention, as in the drill that found the bug."""
    time.sleep(max(0.0, dead.ttl_s) + 0.2)
    with StoreLock(uri, purpose="takeover", timeout_s=5) as lock:
        c = Committer(uri, CFG, "h1", lease=lock)
        c.add(_report(uri, 20))
        c.close()
    gc_store(uri, grace_seconds=0, retention_seconds=0)


def _report(uri: str, k: int) -> dict:
    e = write_and_entry(uri, k)
    return {**e.__dict__, "status": "ok"}


@pytest.mark.parametrize("point", PAUSE_POINTS)
def test_a_writer_paused_anywhere_in_its_commit_never_commits_after_losing_its_lease(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    uri = _store_with_log(tmp_path, 2)
    paused = StoreLock(uri, purpose="paused", ttl_s=0.5).acquire()
    paused._stop.set()  # the whole process is paused: its lease is no longer renewed
    committer = Committer(uri, CFG, "h1", lease=paused)
    report = _report(uri, 10)  # its scan is written; only the commit is left
    fired = []

    def pause() -> None:
        if not fired:
            fired.append(point)
            _other_writer_takes_over(uri, paused)

    hooks = {
        "before-check": (paused, "check"),
        "after-check": (paused, "check"),
        "after-base-read": (mf, "read_version"),
        "before-create": (mf, "create_exclusive"),
        "after-create": (mf, "create_exclusive"),
    }
    owner, name = hooks[point]
    real = getattr(owner, name)

    def hooked(*a, **kw):
        if point.startswith("before"):
            pause()
            return real(*a, **kw)
        out = real(*a, **kw)
        pause()
        return out

    monkeypatch.setattr(owner, name, hooked)
    try:
        committer.add(report)
        committed = True
    except StoreConflict:
        committed = False
    monkeypatch.undo()
    assert fired == [point]
    _fresh()
    records = log_records(uri)  # the log is one chain, every record intact
    latest = read_latest(uri)
    assert "scan.20" in latest.scans  # the new holder's commit stands
    if point == "after-create":
        # it committed before it lost the lease (the commit is the create); the taker fenced
        # above it, so both commits stand, in order
        assert committed and "scan.10" in latest.scans
    else:
        assert not committed and "scan.10" not in latest.scans
    assert any(r.get("fence") for r in records)
    assert all(p == "" for p in CubeStore(uri).verify_all().values())


def test_a_fenced_commit_never_retries_onto_another_base(tmp_path: Path) -> None:
    uri = _store_with_log(tmp_path, 2)
    e = write_and_entry(uri, 7)
    commit_scans(uri, [write_and_entry(uri, 6)], CFG, "h1")  # someone else took version 3
    with pytest.raises(mf.StoreFenced, match="version 3 was committed by another writer"):
        commit_scans(uri, [e], CFG, "h1", expect=2)
    _fresh()
    assert "scan.7" not in read_latest(uri).scans and read_latest(uri).version == 3


# -- one version for a reader; gc keeps the retention window -------------------------------


def test_gc_keeps_what_a_pinned_reader_reads_within_the_retention_window(tmp_path: Path) -> None:
    uri = _store_with_log(tmp_path, 3)
    pinned = read_latest(uri)
    reader = CubeStore(uri, manifest=pinned)
    before = reader.read_raw(range(len(reader)))[0]
    # a forced rebuild supersedes every generation the reader holds
    rebuilt = [write_and_entry(uri, k) for k in range(3)]
    commit_scans(uri, rebuilt, CFG, "h1", replace=True)
    report = gc_store(uri, grace_seconds=0)  # default retention: a day
    assert report["superseded"] == []
    again = CubeStore(uri, manifest=read_version(uri, pinned.version))
    np.testing.assert_array_equal(again.read_raw(range(len(again)))[0], before)
    assert all(p == "" for p in again.verify_all().values())
    # once the window has passed, the old generations go, and the pinned reader is told
    gc_store(uri, grace_seconds=0, retention_seconds=0)
    stale = CubeStore(uri, manifest=read_version(uri, pinned.version))
    with pytest.raises(StoreCorruption):
        stale.read_raw([0])
    CubeStore(uri).verify_store()  # the latest is whole


def test_each_finished_scan_is_committed_at_once_by_default(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    with StoreLock(uri) as lock:
        c = Committer(uri, CFG, "h1", lease=lock)
        for k in range(3):
            c.add(_report(uri, k))
            _fresh()
            assert len(read_latest(uri).scans) == k + 1  # a kill now loses nothing finished
        c.close()
    assert read_latest(uri).version == 3
