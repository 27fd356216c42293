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

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from genesis_core.io import dicom_elements, dicom_pixels
from genesis_core.io.geometry import GeometryError, check_direction, check_spacing, floats

GAP_TOLERANCE = 0.02  # relative to the median gap
GAP_FLOOR_MM = 0.02
TAGS = {
    "series": "0020|000e",
    "position": "0020|0032",
    "orientation": "0020|0037",
    "spacing": "0028|0030",
    "modality": "0008|0060",
    "image_type": "0008|0008",
}
CT_MODALITY = "CT"


class SeriesError(ValueError):
    """The slices do not form one regular volume; the message says where and why."""


@dataclass(frozen=True)
class Slice:
    path: Path
    series: str
    size: tuple[int, int]  # (columns, rows)
    tags: dict[str, str]
    frames: int = 1  # > 1 for a multi-frame (enhanced) object: a whole volume in one file
    frame: int = 0  # which frame of a multi-frame file (1-based) this slice is; 0 = classic

    @property
    def name(self) -> str:
        """How reasons name it: the file, and the frame of a multi-frame file."""
        return f"{self.path.name} frame {self.frame}" if self.frame else self.path.name


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
    _check_modality(_same(slices, "modality", "Modality", label), label)
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
        raise SeriesError(f"{label}: {s.name} has no ImagePositionPatient (0020,0032)")
    p = floats(txt.replace("\\", " "), 3, f"ImagePositionPatient of {s.name}", label)
    if not np.all(np.isfinite(p)):
        raise GeometryError(f"{label}: ImagePositionPatient of {s.name} is not finite")
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
            f"({slices[i].name}, {slices[i + 1].name})"
        )
    bad = np.flatnonzero(np.abs(gaps - median) > tol)
    if len(bad):
        i = int(bad[0])
        raise SeriesError(
            f"{label}: slice gap of {gaps[i]:.4g} mm at z = {along[i]:.4g} mm "
            f"(between {slices[i].name} and {slices[i + 1].name}; expected "
            f"{median:.4g} mm): a slice is missing or the spacing is uneven"
        )
    drift = np.abs((pos - pos[0]) @ np.stack([r, c], axis=1)).max()
    if drift > max(GAP_FLOOR_MM, GAP_TOLERANCE * median):
        raise SeriesError(
            f"{label}: slice positions drift {drift:.3g} mm in-plane (tilted gantry or sheared "
            "stack): not a regular grid"
        )
    return float((along[-1] - along[0]) / (len(along) - 1))


def read_slices(slices: list[Slice], label: str, notes: list[str] | None = None) -> np.ndarray:
    """Voxels (Z, Y, X) in the given order; a slice that does not decode names itself.

    Each file's pixel-format fields are checked against its data first
    (:func:`.dicom_pixels.format_problem`); padding voxels become air, said in ``notes``."""
    reader = sitk.ImageFileReader()
    decoded: dict[Path, np.ndarray] = {}
    padded: dict[str, int] = {}
    planes = []
    for s in slices:
        if s.path not in decoded:
            decoded[s.path] = _decode(reader, s, label, padded)
        arr = decoded[s.path]
        if not s.frame and arr.shape[0] != 1:
            raise SeriesError(f"{label}: slice {s.name} is not a single 2D frame {arr.shape}")
        planes.append(arr[s.frame - 1 if s.frame else 0])
    for what, n in padded.items():
        (notes if notes is not None else []).append(
            f"{n} padding voxels ({what}) set to air ({dicom_pixels.AIR_HU} HU)"
        )
    dtype = np.result_type(*{p.dtype for p in planes})
    out = np.empty((len(planes), *planes[0].shape), dtype=dtype)
    for i, p in enumerate(planes):
        out[i] = p
    return out


def _decode(reader: sitk.ImageFileReader, s: Slice, label: str, padded: dict) -> np.ndarray:
    """A file's frames (F, Y, X) in HU, its pixel format checked, its padding set to air."""
    ds = parsed(s.path, label)
    problem = dicom_pixels.format_problem(ds) if ds is not None else ""
    if problem:
        raise SeriesError(f"{label}: {s.path.name}: {problem}")
    reader.SetFileName(str(s.path))
    try:
        arr = sitk.GetArrayFromImage(reader.Execute())
    except RuntimeError as e:
        raise SeriesError(f"{label}: slice {s.name} cannot be decoded ({error_text(e)})") from e
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise SeriesError(f"{label}: {s.path.name} is not a stack of 2D frames {arr.shape}")
    if ds is None:
        return arr
    arr, n, what = dicom_pixels.map_padding(arr, ds)
    if n:
        padded[what] = padded.get(what, 0) + n
    return arr


def parsed(path: Path, label: str) -> dicom_elements.Dataset | None:
    """The file's elements (None for a transfer syntax the parser leaves to GDCM)."""
    try:
        return dicom_elements.parse(path.read_bytes())
    except dicom_elements.DicomParseError as e:
        raise SeriesError(f"{label}: {path.name} is damaged ({e})") from e


# A localizer (scout) is a plane across the stack: its normal is far off the series'.
LOCALIZER_COS = float(np.cos(np.radians(45)))


def drop_localizers(slices: list[Slice], label: str) -> tuple[list[Slice], list[str]]:
    """The slices without localizer images that share the series UID, and a note per file.

    A localizer is ImageType LOCALIZER, or an image in another plane than the series'
    (its normal more than 45° off the most common one; a slight tilt stays an error of
    the series).  Fewer than two slices left means it cannot be told apart safely."""
    scouts = {s.path: "ImageType LOCALIZER" for s in slices if _is_localizer(s)}
    normals = {s.path: _normal(s) for s in slices if s.path not in scouts}
    known = [n for n in normals.values() if n is not None]
    if known:
        main = np.asarray(Counter(tuple(np.round(n, 2)) for n in known).most_common(1)[0][0])
        main = main / np.linalg.norm(main)
        for path, n in normals.items():
            if n is not None and abs(float(n @ main)) < LOCALIZER_COS:
                scouts[path] = f"its plane's normal {_vec(n)} is not the series' {_vec(main)}"
    if not scouts:
        return slices, []
    kept = [s for s in slices if s.path not in scouts]
    if len(kept) < 2:
        names = ", ".join(sorted(p.name for p in scouts))
        raise SeriesError(f"{label}: {names}: localizer images, and no series is left without them")
    notes = [f"localizer {p.name} dropped ({why})" for p, why in sorted(scouts.items())]
    return kept, notes


def _is_localizer(s: Slice) -> bool:
    return "LOCALIZER" in s.tags.get("image_type", "").upper().replace(" ", "").split("\\")


def _normal(s: Slice) -> np.ndarray | None:
    try:
        v = [float(x) for x in s.tags.get("orientation", "").replace("\\", " ").split()]
    except ValueError:
        return None
    if len(v) != 6:
        return None
    n = np.cross(v[:3], v[3:])
    size = float(np.linalg.norm(n))
    return n / size if np.isfinite(size) and size > 1e-6 else None


def _vec(v) -> str:
    return "(" + ", ".join(f"{float(x):.3g}" for x in v) + ")"


PER_FRAME, SHARED = 0x52009230, 0x52009229
# functional group sequence → the attribute in it (the same as a classic slice's tag)
FRAME_GROUPS = {
    "position": (0x00209113, 0x00200032),  # PlanePositionSequence → ImagePositionPatient
    "orientation": (0x00209116, 0x00200037),  # PlaneOrientationSequence
    "spacing": (0x00289110, 0x00280030),  # PixelMeasuresSequence → PixelSpacing
}


def frame_slices(s: Slice, label: str) -> list[Slice]:
    """The frames of a multi-frame (enhanced) file as the slices of a series.

    Each frame's position comes from its own functional groups, orientation and spacing
    from its own or the shared groups (or the classic top-level attribute): nothing is
    assumed, so :func:`check_series` finds a missing frame or spacing as for files."""
    ds = parsed(s.path, label)
    if ds is None:
        raise SeriesError(f"{label}: {s.path.name}: frames in a transfer syntax not checked here")
    per_frame = _items(ds.get(PER_FRAME))
    shared = (_items(ds.get(SHARED)) or [{}])[0]
    if len(per_frame) != s.frames:
        raise SeriesError(
            f"{label}: {s.path.name} has {s.frames} frames but its "
            f"PerFrameFunctionalGroupsSequence describes {len(per_frame)}: frame positions unknown"
        )
    out = []
    for k, groups in enumerate(per_frame, 1):
        tags = {key: s.tags[key] for key in ("modality", "image_type") if key in s.tags}
        for key, (seq, tag) in FRAME_GROUPS.items():
            sources = (groups,) if key == "position" else (groups, shared)
            value = next((v for g in sources if (v := _group_value(g, seq, tag))), "")
            if not value and key != "position":
                value = dicom_elements.text(ds.get(tag))
            if value:
                tags[key] = value
        out.append(Slice(s.path, s.series, s.size, tags, s.frames, k))
    return out


def _items(el: dicom_elements.Element | None) -> list[dict]:
    return el.items if el is not None and el.items else []


def _group_value(groups: dict, seq: int, tag: int) -> str:
    items = _items(groups.get(seq))
    return dicom_elements.text(items[0].get(tag)) if items else ""


def _check_modality(modality: str, label: str) -> None:
    """CT only: an MR, PET or derived object (SEG, SR) can look CT-like and still not be HU."""
    if not modality:
        raise SeriesError(f"{label}: no Modality (0008,0060): not known to be CT")
    if modality.upper() != CT_MODALITY:
        raise SeriesError(f"{label}: Modality is {modality!r}, not CT")


def error_text(e: Exception) -> str:
    """The telling line of a SimpleITK/GDCM error (its last non-empty line, shortened)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[-1][:200] if lines else type(e).__name__
