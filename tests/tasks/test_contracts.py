"""Stage contracts: frozen, round-trip through their dicts, and read the files run folders
have always held (same keys; ``registered.json`` and a pre-training ``result.json`` byte for
byte)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from tasks.contracts.base import ScanIssue
from tasks.contracts.evaluate import EvaluationResult
from tasks.contracts.finetune import FinetuneResult, FitResult, FitsRegistration
from tasks.contracts.ingest import AnnotationTable, CatalogCommit, IngestResult, QuarantinedScan
from tasks.contracts.nightly import NightlyReport
from tasks.contracts.preprocess import PreprocessResult, StoreCommit
from tasks.contracts.pretrain import (
    DeployedPretrain,
    PretrainResult,
    PretrainTags,
    Registration,
    TrainOutcome,
)
from tasks.contracts.targets import TargetCommit, TargetsResult

# A pre-training run folder's files as tasks/pretrain.py and flows/pretrain.py wrote them
# before the contracts (json.dumps(dict, indent=1)): the keys and their order are the format.
LEGACY_RESULT = {
    "run_id": "0f3c",
    "best_val_loss": 0.0123,
    "steps": 24,
    "stop_reason": "max_steps",
    "checkpoint": "/r/runs/pretrain/ab/checkpoints/best.pt",
    "model_config": {"in_channels": 1, "width": 0.125},
    "network": "unet3d",
    "loop": {"max_steps": 24, "batch_size": 4, "lr": 0.1},
    "first_val_loss": 0.05,
}
LEGACY_REGISTERED = {
    **LEGACY_RESULT,
    "model_name": "genesis-unet3d",
    "version": 3,
    "val_loss": 0.0121,
    "champion_val_loss": None,
    "promoted": True,
    "champion_version": 3,
    "store_uri": "s3://genesis/root/stores/luna.zarr",
    "run_dir": "/r/runs/pretrain/ab",
    "tracking_uri": "sqlite:////r/mlflow/mlflow.db",
}
# A fit's result.json: genesis_core.finetuning.fit's dict, then what fit_one adds.
LEGACY_FIT = {
    "best_val_loss": 0.4,
    "steps": 3,
    "stop_reason": "max_steps",
    "pos_weight": 2.0,
    "test_scans": 2,
    "test_positives": 5,
    "init": "scratch",
    "auc": 0.75,
    "task": "ncc",
    "fraction": 0.5,
    "seed": 1,
    "run_id": "9a",
    "checkpoint": "/r/runs/finetune/cd/checkpoints/best.pt",
    "width": 0.125,
    "network": "unet3d",
    "train_scans": 4,
    "init_lineage": {},
}


def registration(**kw) -> Registration:
    return Registration(
        **{
            "model_name": "m",
            "version": 2,
            "val_loss": 0.1,
            "champion_val_loss": 0.2,
            "promoted": True,
            "champion_version": 2,
            "run_id": "r",
            **kw,
        }
    )


EXAMPLES = [
    IngestResult(
        catalog_uri="/r/catalog/d.parquet",
        scans=3,
        ok=2,
        quarantined=1,
        by_format={"nifti": 2, "mhd": 1},
        changed=0,
        read=3,
        quarantine=(QuarantinedScan("b", "/s/b.mhd", "truncated"),),
        dataset="d",
        layout="plain",
        listed=3,
        annotations=(
            AnnotationTable("annotations", rows=4, invalid=("row 2: x",), uri="/r/a.parquet"),
            AnnotationTable("candidates", error="no header"),
        ),
    ),
    PreprocessResult(
        store_uri="/r/stores/d.zarr",
        manifest_version=2,
        scans_in_store=2,
        cubes_in_store=64,
        done=2,
        failed=(ScanIssue("c", "bad"),),
        empty=(),
        cubes_written=64,
        store_bytes=1000,
        scan_seconds=1.5,
        peak_rss_mb=300.0,
        dataset="d",
        planned=3,
        wall_seconds=2.0,
        scans_per_second=1.5,
        config_hash="abc",
    ),
    TargetsResult(
        store_uri="/r/targets/d-ncc.zarr",
        manifest_version=1,
        scans_in_store=2,
        samples_in_store=40,
        done=2,
        failed=(),
        empty=(ScanIssue("e", "no candidates"),),
        positives_written=5,
        planned=2,
        dataset="d",
        task="ncc",
    ),
    TrainOutcome.from_dict(LEGACY_RESULT),
    registration(),
    PretrainResult.from_dict(LEGACY_REGISTERED),
    DeployedPretrain(
        **dataclasses.asdict(registration()),
        store_uri="/s",
        tracking_uri="http://mlflow",
        prefect_flow_run_id="f",
    ),
    FitResult.from_dict(LEGACY_FIT),
    FitsRegistration(model_name="m", versions=(1, 2), champion_version=2, champion_init="genesis"),
]


@pytest.mark.parametrize("result", EXAMPLES, ids=lambda r: type(r).__name__)
def test_a_result_round_trips_through_its_dict_and_json(result) -> None:
    d = result.to_dict()
    assert type(result).from_dict(d) == result
    assert type(result).from_dict(json.loads(json.dumps(d))) == result, "JSON lists → tuples"
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.run_id = "other"  # type: ignore[misc]


def test_registered_json_written_before_the_contracts_is_read_and_written_alike(
    tmp_path: Path,
) -> None:
    from flows.precheck import finished_run

    text = json.dumps(LEGACY_REGISTERED, indent=1, default=str)
    (tmp_path / "registered.json").write_text(text)
    done = finished_run(tmp_path)
    assert done is not None
    assert (done.run_id, done.model_name, done.version) == ("0f3c", "genesis-unet3d", 3)
    assert done.champion_val_loss is None and done.promoted is True
    again = json.loads(json.dumps(done.to_dict(), default=str))
    assert again.pop("decision") == "", "a field added since (#26) reads back as its default"
    assert json.dumps(again, indent=1) == text, "otherwise byte-compatible"
    assert finished_run(tmp_path / "nowhere") is None
    (tmp_path / "registered.json").write_text('{"run_id": "x"}')  # not a finished run's record
    assert finished_run(tmp_path) is None


def test_the_flow_result_is_the_training_and_the_registration_merged() -> None:
    """What flows/pretrain.py writes is {**result.json, **registration, store, run dir, uri}."""
    trained = TrainOutcome.from_dict(LEGACY_RESULT)
    reg = registration(model_name="genesis-unet3d", version=3, run_id="0f3c")
    out = PretrainResult.of(
        trained, reg, store_uri="/s", run_dir="/r/runs/pretrain/ab", tracking_uri="file:/m"
    )
    legacy = {
        **LEGACY_RESULT,
        **reg.to_dict(),
        "store_uri": "/s",
        "run_dir": "/r/runs/pretrain/ab",
        "tracking_uri": "file:/m",
    }
    assert json.dumps(out.to_dict(), indent=1) == json.dumps(legacy, indent=1)
    assert json.dumps(trained.to_dict(), indent=1) == json.dumps(LEGACY_RESULT, indent=1)


def test_results_from_before_networks_were_named_still_read() -> None:
    old = {k: v for k, v in LEGACY_RESULT.items() if k not in ("network", "first_val_loss")}
    trained = TrainOutcome.from_dict(old)
    assert trained.network is None and trained.first_val_loss is None
    fit = FitResult.from_dict({k: v for k, v in LEGACY_FIT.items() if k != "network"})
    assert fit.network == "unet3d" and fit.init_lineage == {}


def test_a_fit_result_json_keeps_its_keys_and_scores() -> None:
    fit = FitResult.from_dict(LEGACY_FIT)
    assert (fit.task, fit.init, fit.fraction, fit.seed) == ("ncc", "scratch", 0.5, 1)
    assert fit.scores == {"auc": 0.75} and fit.score("auc") == 0.75
    assert math.isnan(fit.score("dice"))
    assert fit.outcome["test_positives"] == 5
    assert set(fit.to_dict()) == set(LEGACY_FIT), "the same keys as result.json always had"
    both = FinetuneResult(fit=fit, registration=EXAMPLES[-1]).to_dict()
    assert both["auc"] == 0.75 and both["versions"] == [1, 2]


def test_commits_and_reports_share_their_fields() -> None:
    commit = CatalogCommit(
        catalog_uri="/c", scans=1, ok=1, quarantined=0, by_format={}, changed=0, read=1
    )
    report = IngestResult.of(commit, dataset="d", layout="plain", listed=1)
    assert report.catalog_uri == "/c" and report.annotations == ()
    store = StoreCommit.from_dict({**EXAMPLES[1].to_dict(), "dataset": "ignored"})
    assert PreprocessResult.of(store, dataset="d").failed == (ScanIssue("c", "bad"),)
    target = TargetCommit.from_dict(EXAMPLES[2].to_dict())
    assert TargetsResult.of(target, task="ncc").empty == (ScanIssue("e", "no candidates"),)


def test_nightly_report_and_evaluation_hold_typed_stage_results() -> None:
    from flows.nightly import render

    pre, deployed = EXAMPLES[1], EXAMPLES[6]
    report = NightlyReport(
        ingest=(EXAMPLES[0],), preprocess=pre, trained=True, pretrain=deployed, wall_seconds=1.0
    )
    md = render(report, "m")
    assert "| 3 | 1 | 2 | 64 | 64 |" in md and "Model **m v2**" in md and "`/s`" in md
    idle = dataclasses.replace(report, trained=False, pretrain=None, message="no new scans")
    assert "**no new scans** (store manifest v2)" in render(idle, "m")
    ev = EvaluationResult(
        task="ncc",
        metric="auc",
        rows=({"init": "scratch", "fraction": 0.5},),
        markdown="|",
        fits=(EXAMPLES[7],),
        out_dir="/o",
        parent_run_id="p",
    )
    assert ev.registration is None and ev.to_dict()["fits"][0]["auc"] == 0.75


def test_pretrain_tags_are_the_version_tags() -> None:
    tags = PretrainTags(
        catalog_sha256="c",
        cube_store_uri="s3://b/s.zarr",
        manifest_version="2",
        manifest_sha256="m",
        transform_config="{}",
        profile="tiny",
        code_version="v",
        prefect_flow_run_id="",
        warm_start="",
    )
    d = tags.to_dict()
    assert list(d) == [
        "catalog_sha256",
        "cube_store_uri",
        "manifest_version",
        "manifest_sha256",
        "transform_config",
        "profile",
        "code_version",
        "prefect_flow_run_id",
        "warm_start",
    ]
    assert all(isinstance(v, str) for v in d.values())


def test_a_worker_report_keeps_what_the_manifest_needs(tmp_path: Path) -> None:
    """A real ``preprocess_scan`` report, typed by the task and handed on, commits the same
    manifest entry as the worker's own dict."""
    import numpy as np

    from flows.options import build_config
    from genesis_core.preprocess import preprocess_scan
    from genesis_core.store.manifest import ScanEntry
    from tasks.contracts.base import ScanReport
    from tests.helpers import volumes

    src = tmp_path / "1.2.3.mhd"
    volumes.write(volumes.volume(seed=4), src)
    cfg = build_config(cube=(16, 16, 8), cubes_per_scan=2, acceptance="none")
    row = {"scan_id": "1.2.3", "source_uri": str(src), "format": "mhd", "subset": np.int64(3)}
    raw = preprocess_scan(row, cfg, str(tmp_path / "s.zarr"), str(tmp_path / "c"))
    report = ScanReport.from_dict(raw)
    assert report.status == "ok" and report.n_cubes > 0 and report.path and report.checksum
    assert ScanEntry.from_result(report.to_dict()) == ScanEntry.from_result(raw)
    broken = {**row, "scan_id": "9", "source_uri": str(tmp_path / "missing.mhd")}
    failed = ScanReport.from_dict(
        preprocess_scan(broken, cfg, str(tmp_path / "s.zarr"), str(tmp_path / "c"))
    )
    assert failed.status == "failed" and "missing.mhd" in failed.issue.reason
