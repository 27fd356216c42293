"""A DICOM series checked as one volume, then read slice by slice.

SimpleITK's series reader averages the slice spacing over the whole stack, so a
missing slice silently stretches the volume.  Here every slice's header is read
first and the series must hold together:

* one value across slices of: Rows × Columns, PixelSpacing, ImageOrientationPatient,
  Modality (and every slice decodes);
* positions (ImagePositionPatient) along the slice normal step evenly: each gap within
  ``GAP_TOLERANCE`` (2 %, at least 0.02 mm) of the median gap; no two slices at one
  position; no in-plane drift between slices (a tilted-gantry stack is not a grid);
* PixelSpacing finite and > 0, orientation orthonormal, positions finite.

Only then are the voxels read, in position order, and the geometry is computed from
the headers exactly as ITK does for a regular series (origin = first slice's
position, spacing = (column spacing, row spacing, mean gap), direction columns =
row cosines, column cosines, normal).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from genesis_core.io.geometry import GeometryError, check_direction, check_spacing, floats

GAP_TOLERANCE = 0.02  # relative to the median gap
GAP_FLOOR_MM = 0.02
TAGS = {
    "series": "0020|000e",
    "position": "0020|0032",
    "orientation": "0020|0037",
    "spacing": "0028|0030",
    "modality": "0008|0060",
}


class SeriesError(ValueError):
    """The slices do not form one regular volume; the message says where and why."""


@dataclass(frozen=True)
class Slice:
    path: Path
    series: str
    size: tuple[int, int]  # (columns, rows)
    tags: dict[str, str]
    frames: int = 1  # > 1 for a multi-frame (enhanced) object: a whole volume in one file


def slice_info(reader: sitk.ImageFileReader, path: Path) -> Slice:
    """Header of one file; raises RuntimeError (SimpleITK's) when it is no readable image."""
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    keys = set(reader.GetMetaDataKeys())
    tags = {k: reader.GetMetaData(v).strip() for k, v in TAGS.items() if v in keys}
    size = reader.GetSize()
    frames = int(size[2]) if len(size) > 2 else 1
    return Slice(path, tags.get("series", ""), (int(size[0]), int(size[1])), tags, frames)


def raw_series_uid(path: Path) -> str:
    """SeriesInstanceUID found by scanning the bytes (for files SimpleITK cannot decode)."""
    with open(path, "rb") as f:  # an OSError here is an I/O fault: raised, never a reason
        data = f.read(1 << 16)
    at = data.find(b"\x20\x00\x0e\x00")
    if at < 0:
        return ""
    if data[at + 4 : at + 6] == b"UI":  # explicit VR
        n = int.from_bytes(data[at + 6 : at + 8], "little")
        value = data[at + 8 : at + 8 + n]
    else:
        n = int.from_bytes(data[at + 4 : at + 8], "little")
        value = data[at + 8 : at + 8 + min(n, 64)]
    return value.rstrip(b"\0 ").decode("ascii", "replace")


def has_pixel_data(path: Path) -> bool:
    """Whether the file carries a PixelData element (7FE0,0010): an image, maybe damaged."""
    return b"\xe0\x7f\x10\x00" in path.read_bytes()


def _same(slices: list[Slice], key: str, what: str, label: str) -> str:
    values = {s.tags.get(key, "") for s in slices}
    if len(values) > 1:
        firsts = sorted(values)[:3]
        raise SeriesError(f"{label}: {what} changes across slices ({', '.join(map(repr, firsts))})")
    return values.pop()


def check_series(slices: list[Slice], label: str) -> tuple[list[Slice], dict]:
    """Slices in position order and the geometry, or :class:`SeriesError` naming the problem."""
    if len(slices) < 2:
        raise SeriesError(f"{label}: a single slice (a 2D image), expected a 3D series")
    sizes = {s.size for s in slices}
    if len(sizes) > 1:
        raise SeriesError(
            f"{label}: slice size (columns × rows) changes across slices {sorted(sizes)}"
        )
    _same(slices, "modality", "Modality", label)
    spacing_txt = _same(slices, "spacing", "PixelSpacing", label)
    orient_txt = _same(slices, "orientation", "ImageOrientationPatient", label)
    if not spacing_txt:
        raise SeriesError(f"{label}: no PixelSpacing (0028,0030): voxel size unknown")
    if not orient_txt:
        raise SeriesError(f"{label}: no ImageOrientationPatient (0020,0037)")
    row_sp, col_sp = floats(spacing_txt.replace("\\", " "), 2, "PixelSpacing", label)
    check_spacing((col_sp, row_sp), "PixelSpacing", label)
    cosines = floats(orient_txt.replace("\\", " "), 6, "ImageOrientationPatient", label)
    r, c = np.asarray(cosines[:3]), np.asarray(cosines[3:])
    n = np.cross(r, c)
    direction = np.stack([r, c, n], axis=1)  # columns: row cosines, column cosines, normal
    check_direction(direction.ravel(), "ImageOrientationPatient", label)
    pos = np.asarray([_position(s, label) for s in slices])
    order = np.argsort(pos @ n, kind="stable")
    slices, pos = [slices[i] for i in order], pos[order]
    gap = _check_positions(slices, pos, r, c, n, label)
    geometry = {
        "spacing": (col_sp, row_sp, gap),
        "origin": tuple(float(v) for v in pos[0]),
        "direction": tuple(float(v) for v in direction.ravel()),
    }
    return slices, geometry


def _position(s: Slice, label: str) -> list[float]:
    txt = s.tags.get("position", "")
    if not txt:
        raise SeriesError(f"{label}: {s.path.name} has no ImagePositionPatient (0020,0032)")
    p = floats(txt.replace("\\", " "), 3, f"ImagePositionPatient of {s.path.name}", label)
    if not np.all(np.isfinite(p)):
        raise GeometryError(f"{label}: ImagePositionPatient of {s.path.name} is not finite")
    return p


def _check_positions(slices, pos, r, c, n, label: str) -> float:
    along = pos @ n
    gaps = np.diff(along)
    median = float(np.median(gaps))
    tol = max(GAP_FLOOR_MM, GAP_TOLERANCE * median)
    dup = np.flatnonzero(gaps < tol * 0.5) if median > 0 else np.arange(len(gaps))
    if len(dup):
        i = int(dup[0])
        raise SeriesError(
            f"{label}: duplicated slice position z = {along[i]:.4g} mm "
            f"({slices[i].path.name}, {slices[i + 1].path.name})"
        )
    bad = np.flatnonzero(np.abs(gaps - median) > tol)
    if len(bad):
        i = int(bad[0])
        raise SeriesError(
            f"{label}: slice gap of {gaps[i]:.4g} mm at z = {along[i]:.4g} mm "
            f"(between {slices[i].path.name} and {slices[i + 1].path.name}; expected "
            f"{median:.4g} mm): a slice is missing or the spacing is uneven"
        )
    drift = np.abs((pos - pos[0]) @ np.stack([r, c], axis=1)).max()
    if drift > max(GAP_FLOOR_MM, GAP_TOLERANCE * median):
        raise SeriesError(
            f"{label}: slice positions drift {drift:.3g} mm in-plane (tilted gantry or sheared "
            "stack): not a regular grid"
        )
    return float((along[-1] - along[0]) / (len(along) - 1))


def read_slices(slices: list[Slice], label: str) -> np.ndarray:
    """Voxels (Z, Y, X) in the given order; a slice that does not decode names itself."""
    reader = sitk.ImageFileReader()
    planes = []
    for s in slices:
        reader.SetFileName(str(s.path))
        try:
            arr = sitk.GetArrayFromImage(reader.Execute())
        except RuntimeError as e:
            raise SeriesError(
                f"{label}: slice {s.path.name} cannot be decoded ({error_text(e)})"
            ) from e
        if arr.ndim == 3 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim != 2:
            raise SeriesError(f"{label}: slice {s.path.name} is not a single 2D frame {arr.shape}")
        planes.append(arr)
    dtype = np.result_type(*{p.dtype for p in planes})
    out = np.empty((len(planes), *planes[0].shape), dtype=dtype)
    for i, p in enumerate(planes):
        out[i] = p
    return out


def error_text(e: Exception) -> str:
    """The telling line of a SimpleITK/GDCM error (its last non-empty line, shortened)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[-1][:200] if lines else type(e).__name__
