"""The registry's model format against a real MLflow (SQLite + local artifacts): no pickle,
dynamic batch and cube sizes, weights rebuilt from safetensors, quiet registration."""

from __future__ import annotations

import os

import mlflow
import pytest
import torch
import yaml

from genesis_core.models import UNet3D
from tasks import registry
from tasks.settings import get_settings
from tasks.tracking import ensure_experiment, use_tracking
from tests.helpers.registry import register_tiny

SHAPES = [(1, 1, 16, 32, 32), (2, 1, 32, 64, 64)]


@pytest.fixture()
def registered(genesis_root, tmp_path):
    return register_tiny(tmp_path, "reg-test")


def test_logged_model_has_no_pickle_and_installable_requirements(registered) -> None:
    _, mv, info = registered
    local = mlflow.artifacts.download_artifacts(f"models:/reg-test/{mv.version}")
    files = {os.path.relpath(os.path.join(d, f), local) for d, _, fs in os.walk(local) for f in fs}
    assert "data/model.pt2" in files and not any(f.endswith(".pth") for f in files), files
    reqs = open(os.path.join(local, "requirements.txt")).read().split()
    assert "torch==2.13.0" in reqs and not any("genesis" in r for r in reqs), reqs
    mlmodel = yaml.safe_load(open(os.path.join(local, "MLmodel")))
    assert "python_function" in mlmodel["flavors"], "pyfunc loadable too"


def test_any_batch_and_cube_size_through_mlflow(registered) -> None:
    model, _, _ = registered
    loaded = mlflow.pytorch.load_model("models:/reg-test@champion")
    pyfunc = mlflow.pyfunc.load_model("models:/reg-test@champion")
    for shape in SHAPES:
        x = torch.rand(shape)
        with torch.no_grad():
            expected = model(x)
            got = loaded(x)
        assert got.shape == shape
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
        out = pyfunc.predict(x.numpy())
        torch.testing.assert_close(torch.from_numpy(out), expected, atol=1e-5, rtol=1e-5)


def test_the_project_loads_the_safetensors_behind_an_alias(registered, tmp_path) -> None:
    model, mv, _ = registered
    ref = registry.resolve("models:/reg-test@champion")
    assert ref == {"name": "reg-test", "version": str(mv.version), "run_id": mv.run_id}
    net = registry.load_network("models:/reg-test@champion")
    assert type(net) is UNet3D and not net.training
    x = torch.rand(SHAPES[0])
    with torch.no_grad():
        assert torch.equal(net(x), model(x)), "exactly the trained weights"
    state = registry.load_state_dict(f"runs:/{mv.run_id}/model")
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_registering_again_is_quiet(registered, tmp_path, capfd) -> None:
    capfd.readouterr()
    _, mv2, _ = register_tiny(tmp_path, "reg-test", seed=1)
    assert int(mv2.version) == 2
    err = capfd.readouterr().err
    assert "already exists" not in err and "Registered model" not in err, err


def test_a_run_without_weights_is_a_clear_error(genesis_root) -> None:
    use_tracking(get_settings())
    exp = ensure_experiment("registry-test", get_settings())
    with mlflow.start_run(experiment_id=exp) as run:
        pass
    with pytest.raises(FileNotFoundError, match="has no weights/model.safetensors"):
        registry.load_network(f"runs:/{run.info.run_id}")


def test_artifacts_go_through_the_tracking_server_unless_the_user_says_otherwise(
    monkeypatch,
) -> None:
    """Presigned transfers would send clients to the object store's in-network address."""
    from tasks.tracking import artifacts_through_the_server

    monkeypatch.delenv("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", raising=False)
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    artifacts_through_the_server()
    from mlflow.environment_variables import (
        MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD,
        MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD,
    )

    assert MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD.get() is False
    assert MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD.get() is True  # the user's choice stands
