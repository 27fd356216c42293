"""HU far outside what CT can show is refused, naming the value and the file; the
constant fill outside the reconstructed circle (−3024 …) is not (#25)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genesis_core.ingest import ingest_sequential
from genesis_core.volume import Volume
from tests.helpers import volumes


def _row(tmp_path: Path, arr: np.ndarray, name: str = "scan.nii.gz") -> dict:
    vol = volumes.volume()
    volumes.write(Volume(arr, vol.spacing, vol.origin, vol.direction), tmp_path / "src" / name)
    df = ingest_sequential(str(tmp_path / "src"), str(tmp_path / "c.parquet"), tmp_path / "cache")
    return df.iloc[0].to_dict()


def _outside_circle(shape) -> np.ndarray:
    _, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    return np.broadcast_to(
        (y - shape[1] / 2) ** 2 + (x - shape[2] / 2) ** 2 > (0.49 * shape[1]) ** 2, shape
    )


def test_rescaled_twice_is_far_below_air(tmp_path: Path) -> None:
    arr = (volumes.ct_like() - 1024).astype(np.int16)  # the intercept applied twice
    row = _row(tmp_path, arr)
    assert row["status"] == "quarantined"
    assert row["reason"].startswith("scan.nii.gz: HU values down to -2")
    assert "not one padding value" in row["reason"]


@pytest.mark.parametrize("value", [40000.0, 32000.0])
def test_denser_than_metal(tmp_path: Path, value: float) -> None:
    arr = volumes.ct_like().astype(np.float32)
    arr[5, 30, 30] = value
    row = _row(tmp_path, arr, "hot.mhd")
    assert row["status"] == "quarantined"
    assert f"hot.mhd: HU values reach {value:g}" in row["reason"], row["reason"]


@pytest.mark.parametrize("fill", [-3024, -2048, -32768])
def test_constant_fill_outside_the_circle_is_accepted(tmp_path: Path, fill: int) -> None:
    arr = volumes.ct_like()
    arr[_outside_circle(arr.shape)] = fill
    row = _row(tmp_path, arr)
    assert row["status"] == "ok", row["reason"]


def test_metal_and_noise_near_air_are_accepted(tmp_path: Path) -> None:
    arr = volumes.ct_like().astype(np.int16)
    arr[3, 30, 30], arr[4, 1, 1] = 30710, -1190  # extended-scale metal; noisy air
    assert _row(tmp_path, arr)["status"] == "ok"
