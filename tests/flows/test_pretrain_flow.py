"""Pre-training under Prefect's harness with MLflow on a temporary SQLite file:
metrics, artifacts, registered versions, lineage tags, aliases, loading by alias."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from genesis_core.catalog import rows_sha256
from genesis_core.store import read_latest
from tasks.tracking import manifest_sha256
from tests.helpers.stores import phantom_store

MODEL = "genesis-unet3d-test"


@pytest.fixture()
def store(tmp_path) -> str:
    return phantom_store(str(tmp_path / "cubes.zarr"))


@pytest.fixture()
def tracking(genesis_root, monkeypatch) -> str:
    uri = f"sqlite:///{genesis_root}/mlflow/mlflow.db"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return uri


def untrained_val_loss(store: str, result, transforms: dict) -> float:
    """Validation loss of the run's initial weights (the flow seeds them with ``seed=0``) on
    the same fixed validation pairs as the run's ``val_loss``: a 24-step run validates only
    at steps 20 and 24, too close together to require that the second is lower."""
    from genesis_core.models import UNet3D, UNet3DConfig
    from genesis_core.training import PretrainConfig
    from genesis_core.training.pretrain import validation_loss
    from tasks.training_inputs import corruption, train_val_readers

    torch.manual_seed(0)
    model = UNet3D(UNet3DConfig(**result.model_config))
    _, val_reader = train_val_readers(store)
    loop = PretrainConfig.from_dict(result.loop)
    return validation_loss(model, val_reader, corruption(transforms), loop)


def test_pretrain_tracks_registers_and_promotes(prefect_harness, store, tracking) -> None:
    from flows.pretrain import pretrain_flow

    first = pretrain_flow(store=store, profile="tiny", steps=24, model_name=MODEL)
    assert first.tracking_uri == tracking
    mlflow.set_tracking_uri(tracking)
    client = MlflowClient(tracking_uri=tracking, registry_uri=tracking)
    assert first.version == 1 and first.promoted
    transforms = json.loads(client.get_model_version(MODEL, "1").tags["transform_config"])
    assert first.best_val_loss < untrained_val_loss(store, first, transforms), "must learn"

    run = client.get_run(first.run_id)
    assert {"train_loss", "val_loss", "cubes_per_s"} <= set(run.data.metrics)
    assert run.data.params["profile"] == "tiny"
    assert "batch_size" in run.data.params and not [
        k for k in run.data.params if k.startswith("loop.")
    ], "each parameter once (the loop logs its own)"
    manifest = read_latest(store)
    (ds,) = run.inputs.dataset_inputs
    assert ds.dataset.digest == manifest_sha256(manifest)[:32]
    assert ds.dataset.name == f"cubes.zarr@v{manifest.version}"
    artifacts = {a.path for a in client.list_artifacts(first.run_id)}
    assert {"montages", "plots", "weights", "config.json"} <= artifacts
    montages = {a.path for a in client.list_artifacts(first.run_id, "montages")}
    assert montages == {"montages/restoration_start.png", "montages/restoration_end.png"}

    mv = client.get_model_version_by_alias(MODEL, "champion")
    assert int(mv.version) == 1
    assert int(client.get_model_version_by_alias(MODEL, "candidate").version) == 1
    for tag in (
        "catalog_sha256",
        "cube_store_uri",
        "manifest_sha256",
        "transform_config",
        "code_version",
        "prefect_flow_run_id",
        "val_loss",
    ):
        assert mv.tags.get(tag), f"missing lineage tag {tag}"
    assert mv.tags["cube_store_uri"] == store
    card = mv.description  # the model card, Markdown in the MLflow UI (#26)
    assert f"manifest version {manifest.version} ({len(manifest.scans)} scans)" in card
    assert "not a diagnostic device" in card and "promoted: no champion" in card
    assert "reference corruption set" in card and "Profile `tiny`" in card
    # The digest of the catalog rows the store's scans came from, derived from the store alone.
    assert mv.tags["catalog_sha256"] == rows_sha256(
        {k: e.source_sha256 for k, e in manifest.scans.items()}
    )

    model = mlflow.pytorch.load_model(f"models:/{MODEL}@champion")
    for shape in [(2, 1, 16, 32, 32), (1, 1, 24, 40, 16)]:
        out = model(torch.rand(shape))
        assert out.shape == shape and 0 <= float(out.min()) and float(out.max()) <= 1

    again = pretrain_flow(store=store, profile="tiny", steps=24, model_name=MODEL)
    assert again.run_id == first.run_id and again.version == 1, "a finished run is not redone"

    worse = pretrain_flow(store=store, profile="tiny", steps=1, seed=5, model_name=MODEL)
    assert worse.version == 2 and not worse.promoted
    assert worse.champion_val_loss == pytest.approx(first.val_loss, rel=1e-4)
    v2 = client.get_model_version(MODEL, "2")  # the comparison is kept with the version
    assert float(v2.tags["champion_val_loss"]) == pytest.approx(first.val_loss, rel=1e-4)
    assert v2.tags["compared_with"] == "1"
    assert "kept champion v1" in v2.description
    assert int(client.get_model_version_by_alias(MODEL, "candidate").version) == 2
    assert int(client.get_model_version_by_alias(MODEL, "champion").version) == 1


def test_pretrain_on_two_ranks_under_torchrun(prefect_harness, store, tracking) -> None:
    """``gpus=2``: two torchrun processes (Gloo here), one MLflow run, one registered model."""
    from flows.pretrain import pretrain_flow

    out = pretrain_flow(store=store, profile="tiny", steps=8, model_name=MODEL + "-ddp", gpus=2)
    client = MlflowClient(tracking_uri=tracking, registry_uri=tracking)
    assert out.version == 1 and out.steps == 8
    run = client.get_run(out.run_id)
    assert run.data.params["gpus"] == "2"
    history = client.get_metric_history(out.run_id, "train_loss")
    steps = [m.step for m in history]
    assert steps and len(steps) == len(set(steps)), "only rank 0 reports"
    model = mlflow.pytorch.load_model(f"models:/{MODEL}-ddp@champion")
    x = torch.rand(2, 1, 16, 32, 32)
    assert model(x).shape == x.shape


def _val_loss(result, store: str, version: int | None, transforms: dict | None = None) -> float:
    """The registered model's loss on store ``version``'s validation cubes: under the
    reference corruption set (what promotion scores, ``transforms=None``) or under
    ``transforms`` with the run's own batching."""
    from dataclasses import replace

    from genesis_core.models import UNet3D, UNet3DConfig
    from genesis_core.training import PretrainConfig, promotion
    from genesis_core.training.pretrain import validation_loss
    from tasks.training_inputs import corruption, load_weights, train_val_readers

    model = UNet3D(UNet3DConfig(**result.model_config))
    load_weights(model, Path(result.checkpoint))
    model.eval()
    _, val_reader = train_val_readers(store, version=version)
    loop = PretrainConfig.from_dict(result.loop)
    if transforms is None:
        transforms = promotion.REFERENCE_TRANSFORMS.as_dict()
        loop = replace(
            loop, batch_size=promotion.REFERENCE_BATCH, val_seed=promotion.REFERENCE_SEED
        )
    return validation_loss(model, val_reader, corruption(transforms), loop)


def test_an_easier_ablation_is_judged_on_the_reference_corruptions(
    prefect_harness, store, tracking
) -> None:
    """A candidate trained on transforms I&II only is scored on all four transforms (#26):
    its loss on its own easier task never decides."""
    from flows.pretrain import pretrain_flow
    from genesis_core.training import promotion

    easy = pretrain_flow(
        store=store, profile="tiny", steps=4, transforms="I&II", model_name=MODEL + "-abl"
    )
    client = MlflowClient(tracking_uri=tracking, registry_uri=tracking)
    mv = client.get_model_version(MODEL + "-abl", str(easy.version))
    own = _val_loss(easy, store, None, json.loads(mv.tags["transform_config"]))
    reference = _val_loss(easy, store, None)
    assert easy.val_loss == pytest.approx(reference, rel=1e-5)
    assert abs(reference - own) > 1e-3 * reference, "the ablation's own task scores differently"
    assert mv.tags["val_loss_on"] == promotion.REFERENCE_NAME


def test_a_commit_landing_mid_run_changes_nothing_the_run_registers(
    prefect_harness, store, tracking, monkeypatch
) -> None:
    """Training, validation, the MLflow dataset input, the lineage tags and the registered
    ``val_loss`` (the champion decision) all come from the store version the run opened."""
    import tasks.pretrain as tp
    from flows.pretrain import pretrain_flow
    from genesis_core.store import commit_scans, write_scan

    opened = read_latest(store).version
    real_train = tp.train

    def commit_then_train(*args, **kwargs):
        # another writer appends validation scans of very different content mid-run
        cubes = np.full((8, 16, 32, 32), 400, np.int16)
        written = write_scan(store, "late-val", cubes, np.zeros((8, 3), int), {})
        commit_scans(
            store, [written.entry("late-val", "sha-late", 5)], {"cube_zyx": [16, 32, 32]}, "test"
        )
        return real_train(*args, **kwargs)

    monkeypatch.setattr(tp, "train", commit_then_train)
    out = pretrain_flow(store=store, profile="tiny", steps=4, model_name=MODEL)
    assert read_latest(store).version == opened + 1, "the commit did land during the run"
    client = MlflowClient(tracking_uri=tracking, registry_uri=tracking)
    mv = client.get_model_version(MODEL, str(out.version))
    assert mv.tags["manifest_version"] == str(opened)
    (ds,) = client.get_run(out.run_id).inputs.dataset_inputs
    assert ds.dataset.name.endswith(f"@v{opened}")
    pinned = _val_loss(out, store, opened)
    latest = _val_loss(out, store, None)
    assert out.val_loss == pytest.approx(pinned, rel=1e-5)
    assert abs(pinned - latest) > 1e-3 * pinned, "the late scans would have changed val_loss"
