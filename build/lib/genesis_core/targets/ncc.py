"""NCC: lung-nodule false-positive reduction cubes, one per LUNA16 candidate (SPEC §4).

Arrays in, arrays out.  Candidates are world mm (X, Y, Z) on the scan's original
geometry; resampling keeps origin and direction, so they map through the resampled
grid unchanged.  Cubes reaching past the scan are padded with air (−1000 HU), never
dropped, so every candidate kept has a cube.
"""

from __future__ import annotations

import numpy as np

from genesis_core.cubes.targets import AIR_HU, candidate_cubes
from genesis_core.targets.arrays import Grid, TargetArrays, resample_image, world_columns
from genesis_core.targets.config import TargetConfig
from genesis_core.volume import Volume


def keep_candidates(
    classes: np.ndarray, max_negatives: int | None, rng: np.random.Generator
) -> np.ndarray:
    """Indices (ascending) of the candidates to keep: all positives, at most
    ``max_negatives`` negatives drawn without replacement (all when None)."""
    classes = np.asarray(classes).reshape(-1)
    neg = np.flatnonzero(classes == 0)
    if max_negatives is not None and len(neg) > max_negatives:
        neg = rng.choice(neg, size=max_negatives, replace=False)
    return np.sort(np.concatenate([np.flatnonzero(classes != 0), neg])).astype(np.int64)


def ncc_arrays(
    volume: Volume,
    points_world_xyz: np.ndarray,
    classes: np.ndarray,
    config: TargetConfig,
    rng: np.random.Generator,
) -> TargetArrays:
    """Resample, then cut a ``config.cube_xyz`` cube centred on each kept candidate.

    ``points_world_xyz`` (m, 3) mm; ``classes`` (m,) in {0, 1}.  Returns int16 images
    (k, D, H, W), int8 labels (k,) and ``rows``: which input rows were kept.
    """
    points = np.asarray(points_world_xyz, dtype=np.float64).reshape(-1, 3)
    classes = np.asarray(classes).reshape(-1)
    if len(points) != len(classes):
        raise ValueError(f"{len(points)} candidate points but {len(classes)} classes")
    if not np.isin(classes, (0, 1)).all():
        raise ValueError(f"candidate classes must be 0/1, got {np.unique(classes)[:5]}")
    res = resample_image(volume, config.spacing_xyz, config.interpolation)
    rows = keep_candidates(classes, config.max_negatives, rng)
    cube_zyx = np.asarray(config.cube_zyx, dtype=np.int64)
    cc = candidate_cubes(res, points[rows], config.cube_xyz, AIR_HU)
    return TargetArrays(
        images=cc.cubes,
        origins_zyx=cc.centers_zyx - cube_zyx // 2,
        grid=Grid.of(res),
        labels=classes[rows].astype(np.int8),
        rows=rows,
    )


def build(
    image: Volume, label: Volume | None, table, config: TargetConfig, rng: np.random.Generator
) -> TargetArrays:
    """The task's builder (:mod:`genesis_core.target_tasks`): this scan's candidates."""
    points, classes = world_columns(table, "class")
    return ncc_arrays(image, points, classes.astype(np.int64), config, rng)
