"""Checks of raw geometry fields, so that no reader's default ever stands in for them.

SimpleITK replaces a zero or NaN NIfTI pixdim by 1, a NaN origin by 0, and so
on.  Each format's header is therefore checked field by field (the message names
the field), and every volume's final geometry once more before it is catalogued.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# A direction matrix is accepted as orthonormal when D·Dᵀ is the identity to this
# tolerance (headers print cosines with 6+ digits; a real shear is far larger).
ORTHONORMAL_TOL = 1e-3


class GeometryError(ValueError):
    """A geometry field is missing, non-finite, non-positive or not a rotation."""


def _fmt(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{float(v):.6g}" for v in values) + ")"


def floats(text: str, n: int, field: str, where: str) -> list[float]:
    """Parse ``n`` numbers of a header field (``nan``/``inf`` parse, and are refused later)."""
    parts = text.replace(",", " ").split()
    try:
        values = [float(p) for p in parts]
    except ValueError as e:
        raise GeometryError(f"{where}: {field} {text!r} is not {n} numbers") from e
    if len(values) != n:
        raise GeometryError(f"{where}: {field} {text!r} has {len(values)} values, expected {n}")
    return values


def check_spacing(values: Sequence[float], field: str, where: str) -> None:
    v = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise GeometryError(f"{where}: spacing {field} = {_fmt(values)} mm must be finite and > 0")


def check_origin(values: Sequence[float], field: str, where: str) -> None:
    if not np.all(np.isfinite(np.asarray(values, dtype=np.float64))):
        raise GeometryError(f"{where}: origin {field} = {_fmt(values)} is not finite")


def check_direction(values: Sequence[float], field: str, where: str) -> None:
    """``values``: a 3×3 matrix, row-major; it must be a rotation (or a reflection)."""
    d = np.asarray(values, dtype=np.float64).reshape(3, 3)
    if not np.all(np.isfinite(d)):
        raise GeometryError(f"{where}: direction {field} = {_fmt(values)} is not finite")
    det = float(np.linalg.det(d))
    if abs(det) < 1e-6:
        raise GeometryError(
            f"{where}: direction {field} = {_fmt(values)} is singular (determinant {det:.3g})"
        )
    err = float(np.abs(d @ d.T - np.eye(3)).max())
    if err > ORTHONORMAL_TOL:
        raise GeometryError(
            f"{where}: direction {field} = {_fmt(values)} is not orthonormal "
            f"(|D·Dᵀ − I| = {err:.3g} > {ORTHONORMAL_TOL})"
        )


def check_geometry(
    spacing: Sequence[float], origin: Sequence[float], direction: Sequence[float], where: str
) -> None:
    """The final gate for any volume, whatever its format."""
    check_spacing(spacing, "spacing", where)
    check_origin(origin, "origin", where)
    check_direction(direction, "direction", where)


def continuous_index(
    points_xyz, origin: Sequence[float], spacing: Sequence[float], direction: Sequence[float]
) -> np.ndarray:
    """Voxel coordinates (m, 3), (i, j, k) = (x, y, z) order, of world points (m, 3) mm:
    ITK's physical-to-index map, ``D⁻¹ (p − origin) / spacing`` (D orthonormal)."""
    d = np.asarray(direction, dtype=np.float64).reshape(3, 3)
    rel = np.asarray(points_xyz, dtype=np.float64).reshape(-1, 3) - np.asarray(origin, float)
    return (rel @ d) / np.asarray(spacing, dtype=np.float64)


def inside_extent(points_xyz, origin, spacing, direction, shape_xyz) -> np.ndarray:
    """Which world points fall inside the scan: within half a voxel of its outer centres."""
    idx = continuous_index(points_xyz, origin, spacing, direction)
    shape = np.asarray(shape_xyz, dtype=np.float64)
    return np.all((idx >= -0.5) & (idx <= shape - 0.5), axis=1)
