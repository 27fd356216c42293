"""The transfer gate where users meet it (#26): ``pretrain_flow`` registers and promotes
through it, against a target store's validation split, with MLflow on SQLite.

- a trained candidate against an (almost) untrained champion is promoted;
- a candidate whose encoder is sabotaged, although its training loss on its own task is
  the lowest ever, is kept out, and the version says why;
- ``ungated`` skips the dev comparisons, and the version says so.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import mlflow
import pytest
import torch
from mlflow.tracking import MlflowClient

from tests.helpers.stores import ncc_store, phantom_store

MODEL = "genesis-gate-test"


@pytest.fixture()
def stores(tmp_path, monkeypatch) -> tuple[str, str]:
    from tasks.settings import reset_settings_cache

    monkeypatch.setenv("GENESIS_GATE_SEEDS", "3")
    monkeypatch.setenv("GENESIS_GATE_STEPS", "10")
    reset_settings_cache()
    yield (
        phantom_store(str(tmp_path / "cubes.zarr")),
        ncc_store(str(tmp_path / "ncc.zarr"), scans=20, contrast=(1500, 2000), radius=(4, 6)),
    )
    reset_settings_cache()


def _sabotaged(trained, run_dir: Path, experiment: str):
    """The trained model with every encoder tensor's values shuffled, registered from a run
    of its own that claims a near-zero loss on its own task."""
    from genesis_core.training.checkpoint import load_checkpoint, save_atomic

    state = load_checkpoint(trained.checkpoint)["model"]
    g = torch.Generator().manual_seed(0)
    for k, v in state.items():
        if k.startswith("down_tr") and v.is_floating_point() and v.numel() > 1:
            state[k] = v.flatten()[torch.randperm(v.numel(), generator=g)].view_as(v)
    ckpt = save_atomic({"model": state}, run_dir / "best.pt")
    with mlflow.start_run(experiment_id=experiment) as run:
        pass
    return replace(trained, run_id=run.info.run_id, checkpoint=str(ckpt), best_val_loss=1e-6)


def test_promotion_goes_through_the_transfer_gate(
    prefect_harness, stores, genesis_root, tmp_path, monkeypatch
) -> None:
    from flows.pretrain import pretrain_flow
    from genesis_core.store import read_latest
    from tasks.contracts.pretrain import TrainSpec
    from tasks.gate import DevStore
    from tasks.pretrain import lineage_tags, register_model
    from tasks.tracking import model_id_of

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cubes, ncc = stores
    first = pretrain_flow(store=cubes, steps=1, seed=5, model_name=MODEL, gate_dev=[ncc])
    assert first.promoted and first.decision == "promoted: no champion to compare with"

    trained = pretrain_flow(store=cubes, steps=24, model_name=MODEL, gate_dev=[ncc])
    client = MlflowClient()
    v2 = client.get_model_version(MODEL, str(trained.version))
    assert trained.promoted, trained.decision
    assert trained.decision.startswith("promoted over v1: ncc probe auc")
    assert v2.tags["gate"] == "transfer" and v2.tags["gate_decision"] == trained.decision
    assert v2.tags["gate_dev"] == f"{ncc}@v1"
    figures = client.get_logged_model(model_id_of(v2)).metrics
    names = {m.key for m in figures}
    assert {
        "gate_ncc_probe_auc",
        "gate_ncc_probe_auc_champion",
        "gate_ncc_probe_auc_diff_lo95",
        "gate_ncc_fewshot_auc_diff",
        "gate_ref_loss",
        "gate_ref_loss_champion",
        "gate_seconds",
    } <= names, names
    assert "Transfer gate" in v2.description and "| ncc probe (auc) |" in v2.description

    # A sabotaged candidate: its "own" loss is the lowest ever, its encoder is garbage.
    manifest = read_latest(cubes)
    sabotaged = _sabotaged(trained, tmp_path, client.get_run(trained.run_id).info.experiment_id)
    spec = TrainSpec(
        store_uri=cubes,
        profile="tiny",
        steps=24,
        transform_cfg=json.loads(v2.tags["transform_config"]),
        seed=0,
        device="cpu",
        resume=False,
        experiment="x",
        run_dir=str(tmp_path),
    )
    tags = lineage_tags(manifest, spec, None, "sabotage")
    reg = register_model.fn(
        sabotaged, cubes, MODEL, tags, None, manifest.version, [DevStore(ncc, True)]
    )
    assert not reg.promoted and reg.champion_version == trained.version
    assert reg.decision.startswith(f"kept champion v{trained.version}: reference restoration")
    assert int(client.get_model_version_by_alias(MODEL, "champion").version) == trained.version
    v3 = client.get_model_version(MODEL, str(reg.version))
    assert v3.tags["gate_decision"] == reg.decision and v3.tags["gate"] == "transfer"
    got = {m.key: m.value for m in client.get_logged_model(model_id_of(v3)).metrics}
    assert got["gate_promoted"] == 0.0 and got["gate_ref_loss"] > got["gate_ref_loss_champion"]

    # Ungated: no dev comparison, the version says so, the reference loss alone decides.
    again = _sabotaged(trained, tmp_path, client.get_run(trained.run_id).info.experiment_id)
    reg = register_model.fn(
        again, cubes, MODEL, tags, None, manifest.version, [DevStore(ncc, True)], gated=False
    )
    v4 = client.get_model_version(MODEL, str(reg.version))
    assert v4.tags["gate"] == "ungated" and not reg.promoted
    assert "ungated" in reg.decision and "gate_ncc_probe_auc" not in {
        m.key for m in client.get_logged_model(model_id_of(v4)).metrics
    }


def test_a_dev_store_named_but_missing_fails_by_name_and_a_default_one_is_skipped(
    tmp_path,
) -> None:
    from genesis_core.models import UNet3D, UNet3DConfig
    from tasks.gate import DevStore, run_gate
    from tasks.settings import get_settings

    model = UNet3D(UNet3DConfig(width=0.125))
    missing = str(tmp_path / "nowhere-ncc.zarr")
    settings = get_settings(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="nowhere-ncc.zarr"):
        run_gate(model, model, [DevStore(missing, True)], 0.1, 0.1, settings)
    skipped = run_gate(model, model, [DevStore(missing, False)], 0.09, 0.1, settings)
    assert skipped.skipped == [missing] and skipped.dev == []
    assert skipped.verdict.promoted and "restoration only" in skipped.verdict.reason
