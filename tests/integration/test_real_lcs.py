"""The real LiTS-style scan through lcs fine-tuning and inference, end to end.

Too few scans to score; the check is that real geometry and intensities flow
through without error and that, after a short fit on that scan, the predicted
liver mask overlaps the given mask (held-out cubes of the same scan).
"""

from __future__ import annotations

import numpy as np
import torch

from genesis_core.cubes.rng import rng_for
from genesis_core.finetuning import finetune_profile, fit
from genesis_core.io.readers import read_image
from genesis_core.targets import TargetConfig, lcs_arrays
from genesis_core.training import ArrayPairReader


def _pairs(real_data, n: int, seed: int):
    folder = real_data / "lits_style_abdomen_ct"
    image = read_image(folder / "volume-0.nii.gz")
    label = read_image(folder / "segmentation-0.nii.gz")
    cfg = TargetConfig(
        task="lcs",
        spacing_xyz=(3.0, 3.0, 3.0),
        cube_xyz=(32, 32, 16),
        n=n,
        foreground_ratio=0.75,
        seed=seed,
    )
    arrays = lcs_arrays(image, label, cfg, rng_for(seed, "volume-0"))
    x = (np.clip(arrays.images, -1000, 1000).astype(np.float32) + 1000) / 2000
    return x, arrays.masks.astype(np.float32)


def test_real_liver_scan_finetunes_and_overlaps(real_data) -> None:
    torch.set_num_threads(2)
    x_train, y_train = _pairs(real_data, 48, seed=0)
    x_test, y_test = _pairs(real_data, 16, seed=1)
    assert y_train.sum() > 0 and y_test.sum() > 0, "liver voxels must survive resampling"
    assert x_train.min() >= 0 and x_train.max() <= 1
    prof = finetune_profile("tiny", "lcs", steps=60, seed=0, device="cpu")
    _, result = fit(
        "lcs",
        ArrayPairReader(x_train, y_train),
        ArrayPairReader(x_test, y_test),
        ArrayPairReader(x_test, y_test),
        None,
        prof,
    )
    assert result["dice"] > 0.5, result
    assert 0 < result["iou"] <= result["dice"]
