"""Fault drills on the preprocess path: a disk that fills up is a failed run, never a
quarantine; older transient quarantines are retried; another config is refused by name;
two runs sharing one Dask scheduler never receive each other's results; pre-training
refuses a damaged store; `genesis store verify` reports per scan."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from genesis_core import catalog
from genesis_core.store import CubeStore, read_latest
from genesis_core.store.integrity import StoreCorruption

# the same synthetic LUNA16 source (5 scans) and ingest as the preprocess flow tests
from tests.flows.test_preprocess_flow import PARAMS, luna_source  # noqa: E402, F401

N = 5


@pytest.fixture()
def ingested(prefect_harness, genesis_root, luna_source):  # noqa: F811
    from flows.ingest import ingest_flow

    assert ingest_flow(source=str(luna_source), dataset="luna").ok == N
    return catalog.catalog_uri(str(genesis_root), "luna")


@pytest.fixture()
def small_tmpfs(tmp_path):
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_fails_the_run_and_quarantines_nothing(ingested, small_tmpfs) -> None:
    from flows.preprocess import preprocess_flow

    store = str(small_tmpfs / "store.zarr")
    with pytest.raises(OSError, match="No space left"):
        preprocess_flow(dataset="luna", store=store, **PARAMS)
    df = catalog.load(ingested)
    assert (df["status"] == "ok").all(), df[["scan_id", "reason"]]
    assert read_latest(store).version == 0  # nothing committed
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_tmpfs)], check=True)
    report = preprocess_flow(dataset="luna", store=store, **PARAMS)  # space freed: plain rerun
    assert report.done == N and not report.failed
    CubeStore(store).verify_store()


def test_old_transient_quarantine_is_retried_and_restored(ingested) -> None:
    from flows.preprocess import preprocess_flow

    df = catalog.load(ingested)
    victim = df["scan_id"].iloc[0]
    df.loc[0, ["status", "reason"]] = [
        "quarantined",
        f"preprocess failed: {victim} (x): OSError: [Errno 28] No space left on device",
    ]
    catalog.save(df, ingested)
    report = preprocess_flow(dataset="luna", **PARAMS)
    assert report.done == N
    row = catalog.load(ingested).set_index("scan_id").loc[victim]
    assert row["status"] == "ok" and row["reason"] == ""


def test_another_config_on_an_existing_store_is_refused_by_name(ingested, tmp_path) -> None:
    from flows.preprocess import preprocess_flow

    store = str(tmp_path / "s.zarr")
    preprocess_flow(dataset="luna", store=store, **PARAMS)
    with pytest.raises(ValueError) as e:
        preprocess_flow(dataset="luna", store=store, **{**PARAMS, "cube": (32, 32, 24)})
    msg = str(e.value)
    assert "sampling.cube_xyz" in msg and "--force" in msg and "new store" in msg
    before = read_latest(store)
    forced = preprocess_flow(
        dataset="luna", store=store, force=True, **{**PARAMS, "cube": (32, 32, 24)}
    )
    assert forced.manifest_version > before.version
    assert CubeStore(store).cube_shape == (24, 32, 32)
    old_groups = [e.group for e in before.scans.values()]
    assert all((Path(store) / g).exists() for g in old_groups)  # old data untouched until gc


@pytest.mark.integration
def test_two_runs_on_one_dask_scheduler_keep_their_own_results(
    ingested, dask_scheduler, genesis_root, tmp_path
) -> None:
    """Another run's tasks for the same scans are still held on the shared scheduler (under
    the per-scan keys older code used): this run must compute its own, for its own store."""
    from distributed import Client

    from flows.preprocess import build_config, preprocess_flow
    from genesis_core.preprocess import preprocess_scan

    cfg = build_config(PARAMS["spacing"], PARAMS["cube"], PARAMS["cubes_per_scan"], PARAMS["seed"])
    rows = catalog.load(ingested).to_dict("records")
    other = str(tmp_path / "other.zarr")
    with Client(dask_scheduler["address"]) as client:
        held = [
            client.submit(
                preprocess_scan,
                r,
                cfg,
                other,
                str(tmp_path / "c"),
                key=f"preprocess-{r['scan_id']}",
                pure=False,
            )
            for r in rows
        ]
        client.gather(held)
        mine = preprocess_flow(
            dataset="luna",
            store=str(tmp_path / "mine.zarr"),
            scheduler=dask_scheduler["address"],
            **PARAMS,
        )
        del held
    store = CubeStore(mine.store_uri)
    assert len(store.scan_ids) == N
    assert all((tmp_path / "mine.zarr" / e.group).exists() for e in store.manifest.scans.values())
    store.verify_store()


def test_pretraining_refuses_a_damaged_store(ingested, genesis_root) -> None:
    from flows.preprocess import preprocess_flow
    from tasks.training_inputs import train_val_readers

    report = preprocess_flow(dataset="luna", **PARAMS)
    store = report.store_uri
    entry = next(iter(read_latest(store).scans.values()))
    for shard in (Path(store) / entry.group / "cubes" / "c").rglob("*"):
        if shard.is_file():
            shard.unlink()  # a deleted shard would read as an all-air scan
    with pytest.raises(StoreCorruption, match=entry.scan_id):
        train_val_readers(store)
    from flows.cli import app

    result = CliRunner().invoke(app, ["store", "verify", store])
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert f"{N - 1} of {N} scans pass" in out
    assert re.search(r"its\s+shard\b.*?object\s+is\s+missing", out), out  # a folded table cell


def test_verify_names_a_damaged_manifest_record(tmp_path) -> None:
    """A flipped bit in a delta that changes a cube count used to pass `store verify`."""
    from flows.cli import app
    from genesis_core.store import commit_scans, write_scan
    from tests.helpers.stores import phantom_store

    store = phantom_store(str(tmp_path / "s.zarr"), subsets=(0, 5), cubes_per_scan=2)
    cubes = CubeStore(store).scan_cubes("scan-0")
    written = write_scan(store, "late", cubes, np.zeros((2, 3), int), {})
    commit_scans(store, [written.entry("late", "sha-late", 1)], {"cube_zyx": [16, 32, 32]}, "test")
    record = Path(store) / "manifests" / f"{read_latest(store).version:06d}.json"
    data = bytearray(record.read_bytes())
    at = data.index(b'"n_cubes":') + len(b'"n_cubes":')
    data[at] ^= 0x01  # one more (or one fewer) cube
    record.write_bytes(bytes(data))
    result = CliRunner().invoke(app, ["store", "verify", store])
    out = " ".join(result.output.split())
    assert result.exit_code == 1, out
    assert record.name in out and "damaged" in out, out


def test_a_second_writer_waits_then_names_the_holder(ingested, tmp_path, monkeypatch) -> None:
    from flows.preprocess import preprocess_flow
    from genesis_core.store.lock import StoreLock, StoreLocked
    from tasks.settings import reset_settings_cache

    monkeypatch.setenv("GENESIS_STORE_LOCK_TIMEOUT", "2")
    reset_settings_cache()
    store = str(tmp_path / "locked.zarr")
    with StoreLock(store, purpose="another nightly"):
        with pytest.raises(StoreLocked, match="locked by .*another nightly"):
            preprocess_flow(dataset="luna", store=store, **PARAMS)
    assert preprocess_flow(dataset="luna", store=store, **PARAMS).done == N
    reset_settings_cache()
