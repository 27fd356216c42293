"""Target-task datasets (SPEC §4): candidate cubes, image/mask pairs, sphere masks.

All functions take (resampled) :class:`~genesis_core.volume.Volume` objects, so
world-mm annotations go through the volume's exact geometry.  Cube sizes are
(X, Y, Z) voxels; cubes come out as arrays ``(m, Z, Y, X)``; origins and centres
are int64 voxel indices (Z, Y, X).  A cube centred on voxel ``c`` spans
``[c - size//2, c - size//2 + size)`` per axis, i.e. ``cube[size//2]`` is ``c``.
Cubes reaching past the scan are padded (air, -1000 HU; background 0 for masks),
never dropped, so every candidate keeps its row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from ..axes import xyz_to_zyx
from ..volume import Volume
from .extract import extract_padded

AIR_HU = -1000


class CandidateCubes(NamedTuple):
    """``cubes``: ``(m, Z, Y, X)`` in the volume's dtype; ``centers_zyx``: int64 ``(m, 3)``."""

    cubes: np.ndarray
    centers_zyx: np.ndarray


class SegmentationPairs(NamedTuple):
    """``images`` ``(n, Z, Y, X)`` (image dtype), ``masks`` uint8 {0, 1}, ``origins_zyx`` (n, 3)."""

    images: np.ndarray
    masks: np.ndarray
    origins_zyx: np.ndarray


def world_to_index_zyx(volume: Volume, points_world_xyz: np.ndarray) -> np.ndarray:
    """World mm (m, 3) (X, Y, Z) → continuous voxel indices (m, 3) in (Z, Y, X) order."""
    pts = np.asarray(points_world_xyz, dtype=np.float64).reshape(-1, 3)
    d = np.asarray(volume.direction, dtype=np.float64).reshape(3, 3)
    m = d * np.asarray(volume.spacing, dtype=np.float64)
    rel = pts - np.asarray(volume.origin, dtype=np.float64)
    return np.linalg.solve(m, rel.T).T[:, ::-1]


def nearest_voxel_zyx(volume: Volume, points_world_xyz: np.ndarray) -> np.ndarray:
    """World mm (m, 3) → nearest voxel index (m, 3) int64 (Z, Y, X), rounding half up."""
    return np.floor(world_to_index_zyx(volume, points_world_xyz) + 0.5).astype(np.int64)


def candidate_cubes(
    volume: Volume,
    points_world_xyz: np.ndarray,
    cube_xyz: Sequence[int] = (64, 64, 32),
    pad_value: float = AIR_HU,
) -> CandidateCubes:
    """Cubes centred on world-mm points (e.g. LUNA16 ``candidates.csv``), padded at borders."""
    cube_zyx = np.asarray(xyz_to_zyx(cube_xyz), dtype=np.int64)
    centers = nearest_voxel_zyx(volume, points_world_xyz)
    cubes = extract_padded(volume.array, centers - cube_zyx // 2, cube_zyx, pad_value)
    return CandidateCubes(cubes, centers)


def random_origins(
    shape_zyx: tuple[int, ...], cube_zyx: np.ndarray, count: int, rng: np.random.Generator
) -> np.ndarray:
    """Uniform origins keeping the cube inside (or covering, padded, a smaller scan)."""
    room = np.asarray(shape_zyx, dtype=np.int64) - cube_zyx
    low, high = np.minimum(room, 0), np.maximum(room, 0)
    return rng.integers(low, high, endpoint=True, size=(count, 3), dtype=np.int64)


def _foreground_origins(
    fg: np.ndarray, cube_zyx: np.ndarray, count: int, rng: np.random.Generator
) -> np.ndarray:
    """Origins of cubes centred on uniformly drawn foreground voxels."""
    idx = np.flatnonzero(fg)
    picks = idx[rng.integers(0, len(idx), size=count)]
    centers = np.stack(np.unravel_index(picks, fg.shape), axis=1).astype(np.int64)
    return centers - cube_zyx // 2


def segmentation_pairs(
    image: Volume,
    label: Volume,
    cube_xyz: Sequence[int],
    n: int,
    rng: np.random.Generator,
    foreground_ratio: float = 0.5,
    labels: Iterable[int] = (1,),
    pad_value: float = AIR_HU,
) -> SegmentationPairs:
    """``n`` image/mask cube pairs; ``round(n·foreground_ratio)`` centred on foreground.

    Foreground = ``label ∈ labels`` (e.g. ``{1, 2}`` for liver incl. tumour, ``{2}``
    tumour only); the mask is that foreground as uint8.  The other cubes are uniform
    over the scan.  A scan without foreground gives only uniform cubes.  Which
    slots are foreground-centred is a random permutation; all draws come from ``rng``.
    """
    if image.array.shape != label.array.shape:
        raise ValueError(f"image {image.array.shape} and label {label.array.shape} differ")
    if not 0.0 <= foreground_ratio <= 1.0:
        raise ValueError(f"foreground_ratio must be in [0, 1], got {foreground_ratio}")
    cube_zyx = np.asarray(xyz_to_zyx(cube_xyz), dtype=np.int64)
    fg = np.isin(label.array, np.asarray(list(labels)))
    n_fg = int(np.floor(n * foreground_ratio + 0.5)) if fg.any() else 0
    is_fg = rng.permutation(np.arange(n) < n_fg)
    origins = np.empty((n, 3), dtype=np.int64)
    origins[~is_fg] = random_origins(image.array.shape, cube_zyx, n - n_fg, rng)
    if n_fg:
        origins[is_fg] = _foreground_origins(fg, cube_zyx, n_fg, rng)
    images = extract_padded(image.array, origins, cube_zyx, pad_value)
    masks = extract_padded(fg.view(np.uint8), origins, cube_zyx, 0)
    return SegmentationPairs(images, masks, origins)


def sphere_mask(
    volume: Volume,
    centers_world_xyz: np.ndarray,
    diameters_mm: Sequence[float] | np.ndarray,
    value: int = 1,
) -> np.ndarray:
    """uint8 mask (Z, Y, X) on ``volume``'s grid: ``value`` inside each sphere.

    A voxel is inside when its centre's world distance to the sphere centre is
    ``<= diameter / 2`` (mm); the voxel nearest each in-scan centre is always marked,
    so a sub-voxel sphere is never lost.  Only ``volume``'s geometry and shape are used.
    """
    mask = np.zeros(volume.array.shape, dtype=np.uint8)
    centers = world_to_index_zyx(volume, centers_world_xyz)
    radii = np.asarray(diameters_mm, dtype=np.float64).reshape(-1) / 2.0
    if len(radii) != len(centers):
        raise ValueError(f"{len(centers)} centres but {len(radii)} diameters")
    for c, r in zip(centers, radii, strict=True):
        _paint_sphere(mask, volume, c, r, value)
    return mask


def _paint_sphere(
    mask: np.ndarray, volume: Volume, c_zyx: np.ndarray, r: float, value: int
) -> None:
    """Set ``value`` where the world distance to centre ``c_zyx`` (index) is ≤ ``r`` mm."""
    spacing_zyx = np.asarray(xyz_to_zyx(volume.spacing), dtype=np.float64)
    shape = np.asarray(mask.shape, dtype=np.int64)
    lo = np.maximum(np.floor(c_zyx - r / spacing_zyx).astype(np.int64) - 1, 0)
    hi = np.minimum(np.ceil(c_zyx + r / spacing_zyx).astype(np.int64) + 2, shape)
    if (hi <= lo).any():
        return
    grids = np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi, strict=True)), indexing="ij")
    offsets_xyz = np.stack(
        [(g - ci) * s for g, ci, s in zip(grids, c_zyx, spacing_zyx, strict=True)][::-1], -1
    )
    d = np.asarray(volume.direction, dtype=np.float64).reshape(3, 3)
    inside = np.linalg.norm(offsets_xyz @ d.T, axis=-1) <= r
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    mask[box][inside] = value
    nearest = np.floor(c_zyx + 0.5).astype(np.int64)
    if ((nearest >= 0) & (nearest < shape)).all():
        mask[tuple(nearest)] = value
