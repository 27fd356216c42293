"""LCS: liver segmentation image/mask cube pairs from a LiTS-style volume + label map.

Arrays in, arrays out.  Image and label are resampled onto one grid (linear /
nearest), then :func:`genesis_core.cubes.targets.segmentation_pairs` draws
``config.n`` cubes, ``round(n · foreground_ratio)`` of them centred on foreground
voxels (label ∈ ``config.labels``), the rest uniform over the scan.
"""

from __future__ import annotations

import numpy as np

from genesis_core.cubes.targets import segmentation_pairs
from genesis_core.io.readers import ScanReadError
from genesis_core.targets.arrays import Grid, TargetArrays, resample_pair
from genesis_core.targets.config import TargetConfig
from genesis_core.volume import Volume


def lcs_arrays(
    image: Volume, label: Volume, config: TargetConfig, rng: np.random.Generator
) -> TargetArrays:
    """int16 images and uint8 masks ``(n, D, H, W)`` with their origins (Z, Y, X)."""
    img, lab = resample_pair(image, label, config.spacing_xyz, config.interpolation)
    pairs = segmentation_pairs(
        img,
        lab,
        config.cube_xyz,
        config.n,
        rng,
        foreground_ratio=config.foreground_ratio,
        labels=config.labels,
    )
    return TargetArrays(pairs.images, pairs.origins_zyx, Grid.of(img), masks=pairs.masks)


def build(
    image: Volume, label: Volume | None, table, config: TargetConfig, rng: np.random.Generator
) -> TargetArrays:
    """The builder of the label-map tasks (``lcs``, ``seg``; :mod:`genesis_core.target_tasks`)."""
    if label is None:
        raise ScanReadError("no label map (label_uri) for a segmentation scan")
    return lcs_arrays(image, label, config, rng)
