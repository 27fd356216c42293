"""A registered model loads and predicts in a fresh environment with only torch and mlflow."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap

import numpy as np
import pytest
import torch

from tests.helpers.fresh_venv import fresh_venv
from tests.helpers.registry import register_tiny

SHAPES = [(1, 1, 16, 32, 32), (2, 1, 32, 64, 64)]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np, mlflow
    try:
        import genesis_core  # noqa: F401
        sys.exit("the project is importable: not a fresh environment")
    except ImportError:
        pass
    folder, shapes = sys.argv[1], json.loads(sys.argv[2])
    model = mlflow.pytorch.load_model("models:/fresh-env@champion")
    pyfunc = mlflow.pyfunc.load_model("models:/fresh-env@champion")
    for i, shape in enumerate(shapes):
        x = np.load(f"{folder}/x{i}.npy")
        import torch
        np.save(f"{folder}/torch{i}.npy", model(torch.from_numpy(x)).detach().numpy())
        np.save(f"{folder}/pyfunc{i}.npy", pyfunc.predict(x))
    """
)


@pytest.mark.slow
def test_registered_model_predicts_with_only_torch_and_mlflow(genesis_root, tmp_path) -> None:
    python = fresh_venv(["torch==2.13.0", "mlflow==3.17.2"])
    model, _, _ = register_tiny(tmp_path, "fresh-env")
    inputs = [
        torch.rand(s, generator=torch.Generator().manual_seed(i)) for i, s in enumerate(SHAPES)
    ]
    for i, x in enumerate(inputs):
        np.save(tmp_path / f"x{i}.npy", x.numpy())
    env = {k: os.environ[k] for k in ("PATH", "HOME", "TMPDIR", "LANG") if k in os.environ}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{genesis_root}/mlflow/mlflow.db"
    out = subprocess.run(
        [str(python), "-I", "-c", SCRIPT, str(tmp_path), json.dumps(SHAPES)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    for i, x in enumerate(inputs):
        with torch.no_grad():
            expected = model(x).numpy()
        for kind in ("torch", "pyfunc"):
            got = np.load(tmp_path / f"{kind}{i}.npy")
            assert got.shape == SHAPES[i]
            np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)
