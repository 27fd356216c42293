"""NCS: lung-nodule segmentation pairs, masks from ``annotations.csv`` spheres.

Arrays in, arrays out.  The scan is resampled, each annotated nodule (world mm
centre (X, Y, Z), ``diameter_mm``) is painted as a sphere on the resampled grid
(:func:`genesis_core.cubes.targets.sphere_mask`), and one cube is cut centred on
each nodule, plus ``config.n_random`` cubes at uniform positions (mostly
nodule-free negatives).  A cube's mask holds every sphere it overlaps.
"""

from __future__ import annotations

import numpy as np

from genesis_core.cubes.extract import extract_padded
from genesis_core.cubes.targets import AIR_HU, nearest_voxel_zyx, random_origins, sphere_mask
from genesis_core.targets.arrays import Grid, TargetArrays, resample_image, world_columns
from genesis_core.targets.config import TargetConfig
from genesis_core.volume import Volume


def ncs_arrays(
    volume: Volume,
    centers_world_xyz: np.ndarray,
    diameters_mm: np.ndarray,
    config: TargetConfig,
    rng: np.random.Generator,
) -> TargetArrays:
    """int16 images and uint8 masks ``(k + n_random, D, H, W)``: nodule cubes first."""
    centers = np.asarray(centers_world_xyz, dtype=np.float64).reshape(-1, 3)
    diameters = np.asarray(diameters_mm, dtype=np.float64).reshape(-1)
    res = resample_image(volume, config.spacing_xyz, config.interpolation)
    mask = sphere_mask(res, centers, diameters)
    cube_zyx = np.asarray(config.cube_zyx, dtype=np.int64)
    nodule_origins = nearest_voxel_zyx(res, centers) - cube_zyx // 2
    origins = np.concatenate(
        [nodule_origins, random_origins(res.array.shape, cube_zyx, config.n_random, rng)]
    )
    return TargetArrays(
        images=extract_padded(res.array, origins, cube_zyx, AIR_HU),
        origins_zyx=origins,
        grid=Grid.of(res),
        masks=extract_padded(mask, origins, cube_zyx, 0),
    )


def build(
    image: Volume, label: Volume | None, table, config: TargetConfig, rng: np.random.Generator
) -> TargetArrays:
    """The task's builder (:mod:`genesis_core.target_tasks`): this scan's annotated nodules."""
    centers, diameters = world_columns(table, "diameter_mm")
    return ncs_arrays(image, centers, diameters.astype(np.float64), config, rng)
