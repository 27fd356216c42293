"""flows → tasks → genesis_core, and the core imports no orchestration, tracking or S3 library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "genesis_core": {
        "prefect",
        "prefect_dask",
        "dask",
        "distributed",
        "mlflow",
        "s3fs",
        "tasks",
        "flows",
    },
    "tasks": {"flows"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_modules(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_checker_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "m.py"
    bad.write_text("import os\nfrom prefect import flow\n")
    assert imported_modules(bad) & FORBIDDEN["genesis_core"] == {"prefect"}


GPU_SIDE = ["genesis_core.transforms", "genesis_core.models", "genesis_core.training"]


@pytest.mark.parametrize("module", GPU_SIDE)
def test_gpu_side_imports_with_torch_and_numpy_only(module: str) -> None:
    """A bare CUDA image has torch and numpy only: these must import there."""
    if not (ROOT / module.replace(".", "/")).exists():
        pytest.skip(f"{module} not present yet")
    blocked = [
        "pydantic",
        "SimpleITK",
        "zarr",
        "fsspec",
        "pandas",
        "pyarrow",
        "scipy",
        "prefect",
        "mlflow",
    ]
    code = f"import sys\nfor m in {blocked!r}: sys.modules[m] = None\nimport {module}\n"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
