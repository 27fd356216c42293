"""The nightly flow under Prefect's test harness, local folders, MLflow on SQLite under the root:
first night trains v1 (champion) and writes the report artifact, a new scan is appended and
warm-started on, a night without new scans trains nothing, and one writer per store."""

from __future__ import annotations

import hashlib
import shutil
import threading
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from genesis_core import catalog
from genesis_core.store import read_latest
from genesis_core.synth import write_luna16

MODEL = "genesis-unet3d-nightly-test"
SIZE = (256, 256, 112)  # accepted 32×32×16 cubes at 1 mm
PARAMS = dict(
    dataset="nightly",
    cube=(32, 32, 16),
    cubes_per_scan=4,
    profile="tiny",
    steps=3,
    workers=2,
    model_name=MODEL,
    experiment="nightly-test",
)


@pytest.fixture(scope="module")
def luna_scans(tmp_path_factory) -> Path:
    """10 scans, one per LUNA16 subset: the store gets train, val and test splits."""
    src = tmp_path_factory.mktemp("nightly") / "luna"
    write_luna16(src, scans=10, seed=21, size_xyz=SIZE)
    return src


@pytest.fixture()
def source(luna_scans, tmp_path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(luna_scans, src)
    return src


@pytest.fixture()
def tracking(genesis_root, monkeypatch) -> MlflowClient:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("GENESIS_MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{genesis_root}/mlflow/mlflow.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)  # else a registry URI left by an earlier test is used
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def add_scan(src: Path, tmp: Path, seed: int) -> str:
    """Write one more scan (another seed, so another series UID) into ``src/subset0``."""
    new = write_luna16(tmp / f"extra-{seed}", scans=1, seed=seed, size_xyz=SIZE, subsets=1)
    (scan,) = new.scans
    for f in (scan.mhd, scan.raw):
        shutil.copy2(f, src / "subset0" / f.name)
    return scan.uid


def shard_files(store: Path) -> dict[str, tuple[str, int]]:
    """Every file of every scan array: content hash and mtime."""
    return {
        str(p.relative_to(store)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted((store / "scans").rglob("*"))
        if p.is_file()
    }


def nightly_report_markdown(flow_run_id) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["nightly-report"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
            )
        )
    assert len(arts) == 1, f"expected one nightly-report artifact for run {flow_run_id}"
    assert arts[0].type == "markdown"
    return arts[0].data


def run_nightly(src: Path, **kw):
    from flows.nightly import nightly_flow

    state = nightly_flow(sources=[str(src)], **{**PARAMS, **kw}, return_state=True)
    assert state.is_completed(), state.message
    return state.result(), state.state_details.flow_run_id


def test_nightly_trains_appends_warm_starts_and_skips(
    prefect_harness, genesis_root, tracking, source, tmp_path
) -> None:
    client = tracking

    # 1. First night: everything is new → store built, v1 trained and made champion.
    first, run1 = run_nightly(source)
    assert first.trained is True
    assert sum(i.read for i in first.ingest) == 10
    assert first.preprocess.planned == 10 and first.preprocess.done == 10
    assert first.pretrain.version == 1 and first.pretrain.promoted
    assert int(client.get_model_version_by_alias(MODEL, "champion").version) == 1
    v1 = client.get_model_version(MODEL, "1")
    assert v1.tags["warm_start"] == "", "the first night trains from scratch"
    assert v1.tags["catalog_sha256"] and v1.tags["manifest_version"] == str(
        first.preprocess.manifest_version
    )
    md = nightly_report_markdown(run1)
    assert "# Genesis nightly" in md and f"{MODEL} v1" in md

    store = Path(first.preprocess.store_uri)
    old_ids = set(read_latest(str(store)).scans)
    before = shard_files(store)
    assert len(old_ids) == 10 and before

    # 2. One new scan: only it is read and preprocessed; old shards untouched; v2 warm-started.
    uid = add_scan(source, tmp_path, seed=77)
    assert uid not in old_ids
    second, run2 = run_nightly(source)
    assert sum(i.read for i in second.ingest) == 1
    assert second.preprocess.planned == 1 and second.preprocess.done == 1
    manifest = read_latest(str(store))
    assert set(manifest.scans) == old_ids | {uid}
    assert manifest.version == first.preprocess.manifest_version + 1  # one commit per scan
    after = shard_files(store)
    assert {k: v for k, v in after.items() if k in before} == before, (
        "old shard files must be byte-identical and not rewritten"
    )
    assert any(k.startswith(f"scans/{uid}/") for k in after.keys() - before.keys())
    assert second.trained is True and second.pretrain.version == 2
    v2 = client.get_model_version(MODEL, "2")
    assert v2.tags["warm_start"] == f"models:/{MODEL}@champion"
    assert v2.tags["manifest_version"] == str(manifest.version)
    rows = catalog.load(catalog.catalog_uri(str(genesis_root), PARAMS["dataset"]))
    assert v2.tags["catalog_sha256"] == catalog.selected_rows_sha256(rows, list(manifest.scans))
    assert v2.tags["catalog_sha256"] != v1.tags["catalog_sha256"], "one more scan, new digest"
    assert client.get_run(v2.run_id).data.params["warm_start"] == f"models:/{MODEL}@champion"
    assert int(client.get_model_version_by_alias(MODEL, "candidate").version) == 2
    assert f"{MODEL} v2" in nightly_report_markdown(run2)

    # 3. Nothing new: no training, no new version, the report says so.
    third, run3 = run_nightly(source)
    assert third.trained is False and third.pretrain is None
    assert "no new scans" in third.message
    assert sum(i.read for i in third.ingest) == 0 and third.preprocess.planned == 0
    assert len(client.search_model_versions(f"name='{MODEL}'")) == 2
    assert read_latest(str(store)).version == manifest.version  # no commit
    assert "no new scans" in nightly_report_markdown(run3)

    # 4. A nightly killed after preprocessing (#29): its cubes are committed, no model was
    #    trained on them. The next nightly has nothing new to read, and trains anyway.
    from flows.ingest import ingest_flow
    from flows.preprocess import preprocess_flow

    add_scan(source, tmp_path, seed=78)
    ingest_flow(source=str(source), dataset=PARAMS["dataset"])
    keys = ("dataset", "cube", "cubes_per_scan", "workers")
    left = preprocess_flow(**{k: PARAMS[k] for k in keys})
    assert left.done == 1
    fourth, run4 = run_nightly(source)
    assert fourth.preprocess.planned == 0, "nothing new to read"
    assert fourth.trained is True and fourth.pretrain.version == 3
    v3 = client.get_model_version(MODEL, "3")
    assert v3.tags["manifest_version"] == str(left.manifest_version)
    assert "Decision:" in nightly_report_markdown(run4)


def test_a_nightly_with_other_cube_options_is_refused_before_it_ingests(
    prefect_harness, genesis_root, tracking, source, tmp_path
) -> None:
    first, _ = run_nightly(source)
    rows = catalog.load(catalog.catalog_uri(str(genesis_root), PARAMS["dataset"]))
    add_scan(source, tmp_path, seed=79)
    from flows.nightly import nightly_flow

    with pytest.raises(ValueError, match=r"--store URI\) or rebuild this one with --force"):
        nightly_flow(sources=[str(source)], **{**PARAMS, "cube": (32, 32, 24)})
    after = catalog.load(catalog.catalog_uri(str(genesis_root), PARAMS["dataset"]))
    assert len(after) == len(rows) and first.trained, "refused before ingest wrote anything"


@pytest.fixture()
def held_lock(prefect_harness):
    """Hold ``store_lock`` for a store in another thread until the test ends."""
    from tasks.locks import store_lock

    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold(uri: str) -> None:
        try:
            with store_lock(uri, timeout_seconds=30):
                holding.set()
                release.wait(120)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)
            holding.set()

    threads: list[threading.Thread] = []

    def start(uri: str) -> None:
        t = threading.Thread(target=hold, args=(uri,), daemon=True)
        t.start()
        threads.append(t)
        assert holding.wait(60), "lock holder did not start"
        assert not errors, errors

    yield start
    release.set()
    for t in threads:
        t.join(30)
    assert not errors, errors


def test_store_lock_is_exclusive_and_times_out_cleanly(held_lock, tmp_path) -> None:
    from tasks.locks import lock_name, store_lock

    uri = str(tmp_path / "a.zarr")
    held_lock(uri)
    with pytest.raises(TimeoutError), store_lock(uri, timeout_seconds=1):
        pytest.fail("a second writer got the lock of a store that is held")
    # Another store has its own lock.
    other = str(tmp_path / "b.zarr")
    assert lock_name(other) != lock_name(uri)
    with store_lock(other, timeout_seconds=5) as name:
        assert name == lock_name(other)


def test_second_nightly_on_a_locked_store_fails_without_touching_it(
    held_lock, genesis_root, tracking, source
) -> None:
    from flows.nightly import nightly_flow
    from flows.preprocess import store_uri_for
    from tasks.settings import get_settings

    store = store_uri_for(get_settings().root_uri, PARAMS["dataset"])
    held_lock(store)
    state = nightly_flow(sources=[str(source)], **PARAMS, lock_timeout_seconds=1, return_state=True)
    assert state.is_failed()
    with pytest.raises(TimeoutError):
        state.result()
    assert not Path(store).exists(), "a run that did not get the lock must not write the store"
    assert not (genesis_root / "catalog").exists(), "nor the catalog"
