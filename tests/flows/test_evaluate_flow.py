"""A tiny end-to-end evaluation under Prefect's harness, MLflow on a temporary SQLite file:
targets → fits (init × fraction × seed) → table → registered versions, tags and aliases."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import mlflow
import pytest
import torch
from mlflow.tracking import MlflowClient

from genesis_core.models import UNet3D, UNet3DConfig
from genesis_core.synth import write_luna16
from tasks.contracts.finetune import FitResult


@pytest.fixture()
def ncc_dataset(prefect_harness, genesis_root, tmp_path):
    from flows.ingest import ingest_flow
    from flows.targets import targets_flow

    src = tmp_path / "luna"
    write_luna16(src, scans=10, seed=2, size_xyz=(128, 128, 64))
    ingest_flow(source=str(src), dataset="luna")
    report = targets_flow(dataset="luna", task="ncc", cube=(32, 32, 16), workers=1)
    assert report.done == 10 and report.positives_written > 0
    return report


def test_evaluate_registers_and_resumes(ncc_dataset, genesis_root, tmp_path, monkeypatch) -> None:
    from flows.evaluate import evaluate_flow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    weights = tmp_path / "pretrained.pt"
    torch.save(
        {
            "state_dict": {
                f"module.{k}": v for k, v in UNet3D(UNet3DConfig(width=0.125)).state_dict().items()
            }
        },
        weights,
    )
    kw = dict(
        task="ncc",
        dataset="luna",
        inits=["scratch", f"file:{weights}"],
        seeds=2,
        label_fractions=[0.5, 1.0],
        steps=3,
        model_name="genesis-ncc-test",
    )
    r = evaluate_flow(**kw)
    assert len(r.fits) == 2 * 2 * 2
    assert {row["init"] for row in r.rows} == {"scratch", f"file:{weights}"}
    assert all(0.0 <= f.score("auc") <= 1.0 or f.score("auc") != f.score("auc") for f in r.fits)
    assert "auc (mean ± std)" in r.markdown and (genesis_root / "runs").exists()
    full = [f for f in r.fits if f.init == "scratch"]
    assert [f.train_scans for f in full if f.seed == 0] == sorted(
        f.train_scans for f in full if f.seed == 0
    )
    for f in r.fits:  # each fit's result.json reads back as the fit it records
        saved = json.loads((Path(f.checkpoint).parents[1] / "result.json").read_text())
        assert set(saved) == set(f.to_dict()) >= {"task", "init", "fraction", "run_id", "auc"}
        back = FitResult.from_dict(saved)
        assert json.dumps(back.to_dict(), default=float) == json.dumps(f.to_dict(), default=float)

    uri = f"sqlite:///{genesis_root}/mlflow/mlflow.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions = client.search_model_versions("name='genesis-ncc-test'")
    assert len(versions) == 8
    champ = client.get_model_version_by_alias("genesis-ncc-test", "champion")
    assert champ.tags["fraction"] == "1.0" and "test_auc" in champ.tags and champ.tags["init"]
    # chosen on validation, whatever the test scores say (#26)
    full = [f for f in r.fits if f.fraction == 1.0 and f.val_score("auc") == f.val_score("auc")]
    assert champ.run_id == max(full, key=lambda f: f.val_score("auc")).run_id
    assert champ.tags["chosen_by"] == "val_auc" and "val_auc" in champ.tags
    assert r.registration.chosen_by == "val_auc"
    assert "Validation: auc" in champ.description and "never used to choose" in champ.description
    children = client.search_runs(
        [client.get_run(r.parent_run_id).info.experiment_id],
        f"tags.mlflow.parentRunId = '{r.parent_run_id}'",
    )
    assert len(children) == 8

    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    from_file = [v for v in versions if v.tags["init"] != "scratch"]
    assert len(from_file) == 4 and {v.tags["init_file_sha256"] for v in from_file} == {digest}

    model = mlflow.pytorch.load_model("models:/genesis-ncc-test@champion")
    probs = model(torch.rand(3, 1, 16, 32, 32))
    assert probs.shape == (3,) and float(probs.min()) >= 0 and float(probs.max()) <= 1

    again = evaluate_flow(**kw)
    assert [f.run_id for f in again.fits] == [f.run_id for f in r.fits], "completed fits are reused"
    assert len(client.search_model_versions("name='genesis-ncc-test'")) == 8


def test_a_registered_init_is_pinned_in_the_fine_tuned_versions_tags(
    ncc_dataset, genesis_root, tmp_path
) -> None:
    """``init=models:/NAME@ALIAS`` → the version carries the name, version and run id that the
    alias meant when the fit started; the fine-tuned model loads back from its safetensors."""
    from flows.finetune import finetune_flow
    from genesis_core.models import UNet3DClassifier
    from tasks import registry
    from tests.helpers.registry import register_tiny

    _, pre, _ = register_tiny(tmp_path, "tiny-pre")
    register_tiny(tmp_path, "tiny-pre", seed=1)
    MlflowClient().set_registered_model_alias("tiny-pre", "champion", "1")  # v2 is not champion
    registry_name = "genesis-ncc-lineage"
    fit = finetune_flow(
        task="ncc",
        init="models:/tiny-pre@champion",
        dataset="luna",
        steps=2,
        model_name=registry_name,
    )
    assert fit.registration.versions == (1,)
    mv = MlflowClient().get_model_version(registry_name, "1")
    assert (mv.tags["init_model_name"], mv.tags["init_model_version"]) == ("tiny-pre", "1")
    assert mv.tags["init_run_id"] == pre.run_id
    net = registry.load_network(f"models:/{registry_name}@champion")
    assert isinstance(net, UNet3DClassifier)
    exported = mlflow.pytorch.load_model(f"models:/{registry_name}/1")
    x = torch.rand(2, 1, 16, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(exported(x), torch.sigmoid(net(x)).squeeze(-1))
