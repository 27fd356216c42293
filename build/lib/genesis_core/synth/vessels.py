"""Branching, tapering vessel trees, grown generation by generation and drawn as tubes.

A tree starts at a root (the hilum) with a radius in mm; every branch splits
into two thinner children (radius ×0.65–0.9, Murray-like) turned 15–40° off
its axis.  A whole generation is one set of array operations, so a lung's
thousands of branches cost ~10 vectorised steps.  Tubes are rasterised as
balls along each centre line (see :func:`~genesis_core.synth.shapes.stamp_balls`),
only over the host tissue, so vessels stop at the pleura.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from genesis_core.synth.grid import Grid
from genesis_core.synth.shapes import stamp_balls
from genesis_core.synth.tissue import Tissue, membership


@dataclass(frozen=True)
class Segments:
    """Straight branch pieces: ``starts``/``ends`` (N, 3) mm (X, Y, Z), ``radii`` (N,) mm."""

    starts: np.ndarray
    ends: np.ndarray
    radii: np.ndarray


def grow_tree(rng, roots, directions, radius_mm, inside, min_radius_mm=0.5, generations=14):
    """Grow trees from ``roots`` (K, 3) mm along ``directions`` (K, 3), radii ``radius_mm`` (K,).

    ``inside(points (N, 3) mm) -> bool (N,)`` tells where branches may continue;
    a branch ending outside it gets no children.  Returns all :class:`Segments`.
    """
    starts, dirs = np.asarray(roots, float), _unit(np.asarray(directions, float))
    origin = starts.copy()
    radii = np.broadcast_to(np.asarray(radius_mm, float), (len(starts),)).copy()
    pieces = []
    for _ in range(generations):
        ends = starts + dirs * (radii * rng.uniform(3.5, 6, len(radii)))[:, None]
        pieces.append(Segments(starts, ends, radii))
        keep = inside(ends) & (radii * 0.85 >= min_radius_mm)
        if not keep.any():
            break
        starts, dirs, radii, origin = _split(rng, ends[keep], dirs[keep], radii[keep], origin[keep])
    return Segments(
        *(np.concatenate([getattr(p, f.name) for p in pieces]) for f in fields(Segments))
    )


def _split(rng, ends, dirs, radii, origin):
    """Two children per branch: turned to either side of a random plane, thinner."""
    n = len(ends)
    perp = _unit(np.cross(dirs, rng.standard_normal((n, 3))))
    angles = np.deg2rad(rng.uniform(15, 40, (2, n, 1)))
    left = np.cos(angles[0]) * dirs + np.sin(angles[0]) * perp
    right = np.cos(angles[1]) * dirs - np.sin(angles[1]) * perp
    outward = _unit(ends - origin + 1e-9)  # keeps trees spreading away from the hilum
    children = _unit(np.concatenate([left, right]) + 0.3 * np.concatenate([outward, outward]))
    shrink = np.concatenate([rng.uniform(0.78, 0.9, n), rng.uniform(0.65, 0.85, n)])
    return (
        np.concatenate([ends, ends]),
        children,
        np.tile(radii, 2) * shrink,
        np.tile(origin, (2, 1)),
    )


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def centre_line(segments: Segments, spacing_xyz) -> tuple[np.ndarray, np.ndarray]:
    """Points (P, 3) mm along every segment, spaced ≤ half a radius, and their radii (P,)."""
    step = np.maximum(0.5 * segments.radii, 0.7 * min(spacing_xyz))
    length = np.linalg.norm(segments.ends - segments.starts, axis=1)
    counts = np.ceil(length / step).astype(np.int64) + 1
    seg = np.repeat(np.arange(len(counts)), counts)
    first = np.cumsum(counts) - counts
    t = (np.arange(counts.sum()) - first[seg]) / np.maximum(counts[seg] - 1, 1)
    delta = segments.ends - segments.starts
    return segments.starts[seg] + delta[seg] * t[:, None], segments.radii[seg]


def draw_vessels(tissue_map, grid: Grid, segments: Segments, host=(Tissue.LUNG,)) -> None:
    """Rasterise ``segments`` as :attr:`Tissue.VESSEL` tubes over the ``host`` tissues."""
    points, radii = centre_line(segments, grid.spacing_xyz)
    index = grid.to_index(points)
    ok = grid.contains(index)
    index, radii = index[ok], radii[ok]
    quantised = np.round(radii / 0.25) * 0.25  # one ball stencil per 0.25 mm of radius
    for r in np.unique(quantised):
        stamp_balls(tissue_map, grid, index[quantised == r], r, Tissue.VESSEL, where=host)


def tissue_test(tissue_map: np.ndarray, grid: Grid, tissues):
    """``inside`` predicate for :func:`grow_tree`: the nearest voxel is one of ``tissues``."""
    allowed = membership(tissues)

    def inside(points_mm: np.ndarray) -> np.ndarray:
        index = grid.to_index(points_mm)
        ok = grid.contains(index)
        result = np.zeros(len(index), bool)
        i = index[ok]
        result[ok] = allowed[tissue_map[i[:, 2], i[:, 1], i[:, 0]]]
        return result

    return inside
