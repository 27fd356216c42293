"""Resampling a :class:`~genesis_core.volume.Volume` to a new voxel spacing.

The output grid keeps the input's ``origin`` and ``direction`` exactly (copied,
not round-tripped) and only changes ``spacing`` (X, Y, Z mm) and the size, per
axis ``round(old_size * old_spacing / new_spacing)`` (half up, at least 1).  Voxel
centre 0 stays at the same world point, so world-mm annotations (LUNA16
candidates) keep mapping to the right voxel through
:meth:`Volume.world_to_index`.

Linear interpolation (the default) runs in NumPy, not ITK: because the output grid
shares the input's origin and direction, output index ``i`` along each axis sits at
input index ``i * new_spacing / old_spacing``, so trilinear interpolation splits into
three 1-D linear passes (X, then Y on each input slice, then Z in slabs). That is
the same weighted sum of the same 8 neighbours as ITK's ``LinearInterpolateImageFunction``
(indices past the last voxel clamp to it; points at or beyond half a voxel outside get
the default), at about a third of ITK's time on one core. Values agree with SimpleITK
to float32 rounding (tested: at most 1 HU apart after rounding, almost always equal).
B-spline and nearest-neighbour interpolation go through SimpleITK's ``ResampleImageFilter``;
``engine="itk"`` forces ITK for linear too.

Memory: integer scans (int16 HU) are interpolated in float32 and rounded half to even
back to the input dtype in slabs (ITK itself would truncate toward zero, biasing every
interpolated value), so a 512×512×300 int16 scan resampled from 0.7×0.7×2.5 mm to 1 mm
peaks well under 1 GB. ``threads`` sets ITK's thread count (1 for one Dask task per core);
the NumPy path is single-threaded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from .volume import Volume

Interpolation = Literal["linear", "bspline", "nearest"]
Engine = Literal["numpy", "itk"]

# Voxels per slab when rounding the float32 ITK output back to an integer dtype.
_SLAB_VOXELS = 1 << 20


def output_size(
    size_xyz: Sequence[int], spacing_xyz: Sequence[float], new_spacing_xyz: Sequence[float]
) -> tuple[int, int, int]:
    """Grid size (X, Y, Z) covering the same extent: ``round(size*spacing/new)``, ≥ 1."""
    return tuple(  # type: ignore[return-value]
        max(1, math.floor(n * s / t + 0.5))
        for n, s, t in zip(size_xyz, spacing_xyz, new_spacing_xyz, strict=True)
    )


def _is_native(volume: Volume, spacing_xyz: Sequence[float] | None) -> bool:
    if spacing_xyz is None:
        return True
    if len(spacing_xyz) != 3 or any(float(s) <= 0 for s in spacing_xyz):
        raise ValueError(f"spacing must be 3 positive mm values (X, Y, Z), got {spacing_xyz!r}")
    return tuple(float(s) for s in spacing_xyz) == tuple(float(s) for s in volume.spacing)


def _interpolator(interpolation: Interpolation) -> int:
    import SimpleITK as sitk

    table = {
        "linear": sitk.sitkLinear,
        "bspline": sitk.sitkBSpline,
        "nearest": sitk.sitkNearestNeighbor,
    }
    if interpolation not in table:
        raise ValueError(f"unknown interpolation {interpolation!r}; use one of {sorted(table)}")
    return table[interpolation]


def _round_into(src: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float32 (Z, Y, X) → new integer array: round half to even, clip to the dtype range.

    Works slab by slab through one small float32 buffer, so the only large
    allocation is the output itself.
    """
    info = np.iinfo(dtype)
    out = np.empty(src.shape, dtype=dtype)
    step = max(1, _SLAB_VOXELS // max(1, src.shape[1] * src.shape[2]))
    buf = np.empty((step, *src.shape[1:]), dtype=np.float32)
    for z0 in range(0, src.shape[0], step):
        slab = buf[: len(src[z0 : z0 + step])]
        np.rint(src[z0 : z0 + step], out=slab)
        np.clip(slab, info.min, info.max, out=slab)
        out[z0 : z0 + step] = slab
    return out


def _axis_plan(n_in: int, n_out: int, ratio: float):
    """Per output index along one axis: neighbours ``i0``/``i1``, weight of ``i1``, inside?

    Input position ``i * ratio``; ITK's rules: inside iff ``pos < n_in - 0.5``, and a
    neighbour past the last voxel is the last voxel.
    """
    pos = np.arange(n_out, dtype=np.float64) * ratio
    inside = pos < n_in - 0.5
    i0 = np.minimum(np.floor(pos).astype(np.intp), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    weight = np.where(inside, pos - i0, 0.0).astype(np.float32)
    return i0, i1, weight, inside


def _lerp(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``a + (b - a) * w`` reusing ``b``'s buffer (both float32, freshly gathered)."""
    np.subtract(b, a, out=b)
    np.multiply(b, w, out=b)
    np.add(b, a, out=b)
    return b


def _linear_numpy(volume: Volume, spacing_xyz: Sequence[float], default_value: float) -> np.ndarray:
    """Separable trilinear resampling onto the same-origin grid; (Z, Y, X) in the input dtype."""
    arr = volume.array
    size_xyz = output_size(volume.shape_xyz, volume.spacing, spacing_xyz)
    ratios = [float(t) / float(s) for s, t in zip(volume.spacing, spacing_xyz, strict=True)]
    xi0, xi1, xw, xin = _axis_plan(arr.shape[2], size_xyz[0], ratios[0])
    yi0, yi1, yw, yin = _axis_plan(arr.shape[1], size_xyz[1], ratios[1])
    zi0, zi1, zw, zin = _axis_plan(arr.shape[0], size_xyz[2], ratios[2])
    # X then Y pass on every input slice the Z pass will read, a few slices at a time.
    plane = np.empty((arr.shape[0], size_xyz[1], size_xyz[0]), dtype=np.float32)
    needed = np.zeros(arr.shape[0], dtype=bool)
    needed[zi0[zin]] = needed[zi1[zin]] = True
    step = max(1, _SLAB_VOXELS // max(1, arr.shape[1] * arr.shape[2]))
    xa = np.empty((step, arr.shape[1], size_xyz[0]), dtype=np.float32)
    xb = np.empty_like(xa)
    ya = np.empty((step, size_xyz[1], size_xyz[0]), dtype=np.float32)
    yb = np.empty_like(ya)
    for z0 in range(0, arr.shape[0], step):
        zs = np.flatnonzero(needed[z0 : z0 + step]) + z0
        if not len(zs):
            continue
        n, src = len(zs), arr[zs]
        a, b = xa[:n], xb[:n]
        np.copyto(a, src.take(xi0, axis=2))
        np.copyto(b, src.take(xi1, axis=2))
        x = _lerp(a, b, xw)
        np.take(x, yi0, axis=1, out=ya[:n])
        np.take(x, yi1, axis=1, out=yb[:n])
        plane[zs] = _lerp(ya[:n], yb[:n], yw[:, None])
    # Z pass in output slabs, rounded back to an integer dtype where needed.
    dtype = arr.dtype
    integer = np.issubdtype(dtype, np.integer)
    info = np.iinfo(dtype) if integer else None
    out = np.empty((size_xyz[2], size_xyz[1], size_xyz[0]), dtype=dtype)
    step = max(1, _SLAB_VOXELS // max(1, size_xyz[0] * size_xyz[1]))
    za = np.empty((step, size_xyz[1], size_xyz[0]), dtype=np.float32)
    zb = np.empty_like(za)
    for z0 in range(0, size_xyz[2], step):
        sl = slice(z0, z0 + step)
        n = len(zi0[sl])
        np.take(plane, zi0[sl], axis=0, out=za[:n])
        np.take(plane, zi1[sl], axis=0, out=zb[:n])
        slab = _lerp(za[:n], zb[:n], zw[sl, None, None])
        if info is not None:
            np.rint(slab, out=slab)
            np.clip(slab, info.min, info.max, out=slab)
        out[sl] = slab
    fill = np.clip(np.rint(default_value), info.min, info.max) if info else default_value
    out[~zin] = fill
    out[:, ~yin] = fill
    out[:, :, ~xin] = fill
    return out


def _execute(
    volume: Volume,
    spacing_xyz: Sequence[float],
    interpolation: Interpolation,
    default_value: float,
    threads: int | None,
) -> np.ndarray:
    """Run ITK's resampler; returns the new (Z, Y, X) array in the input dtype."""
    import SimpleITK as sitk

    dtype = volume.array.dtype
    to_float = np.issubdtype(dtype, np.integer) and interpolation != "nearest"
    f = sitk.ResampleImageFilter()
    f.SetOutputSpacing(tuple(float(s) for s in spacing_xyz))
    f.SetSize([int(n) for n in output_size(volume.shape_xyz, volume.spacing, spacing_xyz)])
    f.SetOutputOrigin(tuple(float(o) for o in volume.origin))
    f.SetOutputDirection(tuple(float(d) for d in volume.direction))
    f.SetInterpolator(_interpolator(interpolation))
    f.SetDefaultPixelValue(float(default_value))
    if to_float:
        f.SetOutputPixelType(sitk.sitkFloat32)
    if threads is not None:
        f.SetNumberOfThreads(int(threads))
    out = f.Execute(volume.to_sitk())
    if to_float:
        return _round_into(sitk.GetArrayViewFromImage(out), dtype)
    return sitk.GetArrayFromImage(out).astype(dtype, copy=False)


def resample(
    volume: Volume,
    spacing_xyz: Sequence[float] | None,
    interpolation: Interpolation = "linear",
    default_hu: float = -1000.0,
    threads: int | None = None,
    engine: Engine = "numpy",
) -> Volume:
    """Resample an intensity volume to ``spacing_xyz`` (X, Y, Z mm).

    ``None`` (native) or the volume's own spacing returns ``volume`` itself.  Voxels
    outside the input get ``default_hu`` (air).  The dtype is kept (int16 stays
    int16, rounded); origin and direction are copied exactly.  ``engine`` picks the
    implementation of linear interpolation (see the module docstring).
    """
    if _is_native(volume, spacing_xyz):
        return volume
    assert spacing_xyz is not None
    if engine not in ("numpy", "itk"):
        raise ValueError(f"unknown resampling engine {engine!r}; use 'numpy' or 'itk'")
    if interpolation == "linear" and engine == "numpy":
        array = _linear_numpy(volume, spacing_xyz, default_hu)
    else:
        array = _execute(volume, spacing_xyz, interpolation, default_hu, threads)
    return Volume(
        array=array,
        spacing=tuple(float(s) for s in spacing_xyz),  # type: ignore[arg-type]
        origin=volume.origin,
        direction=volume.direction,
    )


def resample_label(
    volume: Volume, spacing_xyz: Sequence[float] | None, threads: int | None = None
) -> Volume:
    """Resample a label map with nearest neighbour: only existing label values appear.

    Outside the input is background (0).  Same grid rule as :func:`resample`, so an
    image and its label resampled to the same spacing share one grid.
    """
    if volume.array.dtype == np.bool_:  # ITK has no bool pixel type
        as_u8 = Volume(volume.array.view(np.uint8), volume.spacing, volume.origin, volume.direction)
        out = resample(as_u8, spacing_xyz, "nearest", default_hu=0, threads=threads)
        return Volume(out.array.view(np.bool_), out.spacing, out.origin, out.direction)
    return resample(volume, spacing_xyz, "nearest", default_hu=0, threads=threads)
