"""Cutting cubes out of a (Z, Y, X) array at voxel origins.

``origins_zyx`` are integer voxel indices ``(k, 3)`` in array order (Z, Y, X) of
each cube's first voxel; ``cube_zyx`` is the cube's array shape (Z, Y, X), e.g.
(32, 64, 64) for the paper's 64×64×32 (X×Y×Z) cube.  Cube ``i`` is
``array[z:z+Z, y:y+Y, x:x+X]`` with ``(z, y, x) = origins_zyx[i]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _as_origins(origins_zyx: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
    o = np.asarray(origins_zyx, dtype=np.int64).reshape(-1, 3)
    return o


def extract(array: np.ndarray, origins_zyx: np.ndarray, cube_zyx: Sequence[int]) -> np.ndarray:
    """Cubes fully inside ``array``: ``(k, Z, Y, X)`` copies, same dtype.

    Raises ``ValueError`` if a cube leaves the array (use :func:`extract_padded`).
    """
    o = _as_origins(origins_zyx)
    size = np.asarray(cube_zyx, dtype=np.int64)
    if o.size and ((o < 0).any() or (o + size > np.asarray(array.shape)).any()):
        raise ValueError("a cube leaves the array; use extract_padded")
    out = np.empty((len(o), *(int(s) for s in size)), dtype=array.dtype)
    for i, (z, y, x) in enumerate(o):
        out[i] = array[z : z + size[0], y : y + size[1], x : x + size[2]]
    return out


def extract_padded(
    array: np.ndarray, origins_zyx: np.ndarray, cube_zyx: Sequence[int], fill: float
) -> np.ndarray:
    """Cubes anywhere (even partly or wholly outside): ``(k, Z, Y, X)``, outside = ``fill``."""
    o = _as_origins(origins_zyx)
    size = np.asarray(cube_zyx, dtype=np.int64)
    shape = np.asarray(array.shape, dtype=np.int64)
    out = np.full((len(o), *(int(s) for s in size)), fill, dtype=array.dtype)
    for i, start in enumerate(o):
        lo = np.maximum(start, 0)
        hi = np.minimum(start + size, shape)
        if (hi <= lo).any():
            continue  # wholly outside: all fill
        src = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        dst = tuple(slice(a, b) for a, b in zip(lo - start, hi - start, strict=True))
        out[(i, *dst)] = array[src]
    return out
