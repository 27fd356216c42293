"""genesis_core.models and .training import with torch and numpy only (bare CUDA image)."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
for name in ("pydantic", "prefect", "dask", "distributed", "mlflow", "s3fs", "zarr"):
    sys.modules[name] = None  # any import of these now raises ImportError
import genesis_core.models, genesis_core.training
heavy = {"pydantic", "prefect", "dask", "distributed", "mlflow", "s3fs", "fsspec", "SimpleITK"}
loaded = heavy & {m.split(".")[0] for m in sys.modules if sys.modules[m] is not None}
assert not loaded, loaded
"""


def test_models_and_training_need_only_torch_and_numpy():
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
