"""The real scans preprocess into cubes whose HU statistics are plausible."""

from __future__ import annotations

import numpy as np

from genesis_core.ingest import ingest_sequential
from genesis_core.preprocess import PreprocessConfig, preprocess_scan
from genesis_core.store import CubeStore, ScanEntry, commit_scans


def _preprocess(real_data, name: str, tmp_path):
    df = ingest_sequential(
        str(real_data / name), str(tmp_path / f"{name}.parquet"), tmp_path / "cache"
    )
    row = df.iloc[0].to_dict()
    assert row["status"] == "ok", row["reason"]
    cfg = PreprocessConfig()
    uri = str(tmp_path / f"{name}.zarr")
    out = preprocess_scan(row, cfg, uri, str(tmp_path / "cache"))
    assert out["status"] == "ok", out
    commit_scans(
        uri,
        [ScanEntry.from_result(out)],
        cfg.to_dict(),
        cfg.hash(),
    )
    return CubeStore(uri), out


def test_chest_scans_give_lung_cubes(real_data, tmp_path) -> None:
    for name in ("luna16_style_chest_ct", "dicom_chest_ct"):
        store, out = _preprocess(real_data, name, tmp_path)
        assert out["n_cubes"] == 32, out  # 5 and 8 mm slices resampled to 1 mm are long enough
        hu = np.stack([store.raw_cube(i) for i in range(len(store))])
        assert store.cube_shape == (32, 64, 64)
        medians = np.median(hu.reshape(len(hu), -1), axis=1)
        assert np.mean(medians < -500) >= 0.75, (
            f"{name}: lung cubes should be mostly air/lung: {medians}"
        )
        assert hu.min() >= -1100 and hu.max() > 0  # vessels/walls present, no wild values
