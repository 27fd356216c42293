"""Read one :class:`ScanSource` into :class:`Volume` objects, trusting nothing.

Every format goes through its own header check and exact-byte payload read
(:mod:`.metaimage`, :mod:`.nifti`, :mod:`.nrrd`, :mod:`.dicom`), then one final
geometry gate (:func:`genesis_core.io.geometry.check_geometry`).  Bad data becomes a
:class:`ScanReadError` whose message names the file and the problem; the caller
records it (quarantine) and goes on.  I/O faults (``OSError`` from storage) are not
bad data: they propagate, so the run retries them or fails clearly.

A DICOM folder can yield several results: one per series (all quarantined when a
folder mixes series) and one per file that is not a readable DICOM image.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from genesis_core.io import dicom, metaimage, nifti, nrrd, storage
from genesis_core.io.checks import count_nonfinite
from genesis_core.io.geometry import GeometryError, check_geometry
from genesis_core.io.layout import ScanSource, format_of
from genesis_core.io.payload import PayloadError
from genesis_core.io.storage import Location, LocationLike
from genesis_core.volume import Volume

BAD_DATA = (
    PayloadError,
    GeometryError,
    metaimage.MetaImageError,
    nifti.NiftiError,
    nrrd.NrrdError,
    dicom.SeriesError,
)


class ScanReadError(ValueError):
    """A scan could not be read; the message says which file and why."""


@dataclass
class ReadResult:
    """One catalog-row-to-be: a volume (and label) or the reason it is missing."""

    scan_id: str
    source_uri: str
    volume: Volume | None = None
    label: Volume | None = None
    reason: str = ""
    notes: str = (
        ""  # what reading changed in an accepted scan (padding to air, a localizer dropped)
    )


@contextmanager
def fetched(
    src: ScanSource, cache_dir: Path, dataset: LocationLike = ""
) -> Iterator[tuple[list[Path], Path | None]]:
    """Local paths of the scan's files and of its label, valid inside the ``with`` block:
    remote ones are staged side by side and deleted afterwards (:func:`storage.staged`).

    ``dataset``: the listed location, whose options reach the files."""
    reach = Location.of(dataset)
    files = [reach.at(f) for f in src.files]
    if src.label_uri:
        files.append(reach.at(src.label_uri))
    with storage.staged(files, cache_dir) as paths:
        if src.label_uri:
            yield paths[:-1], paths[-1]
        else:
            yield paths, None


def read_image(path: Path) -> Volume:
    """Read a 3D scalar image file; raise :class:`ScanReadError` for anything else."""
    readers = {"mhd": _read_mhd, "nifti": _read_nifti, "nrrd": _read_nrrd}
    try:
        vol = readers.get(format_of(path.name), _read_sitk)(path)
        check_geometry(vol.spacing, vol.origin, vol.direction, path.name)
    except BAD_DATA as e:
        raise ScanReadError(str(e)) from e
    except MemoryError as e:
        raise ScanReadError(f"{path.name}: not enough memory to hold its voxels") from e
    return vol


def _native(arr: np.ndarray) -> np.ndarray:
    return arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))


def _read_mhd(path: Path) -> Volume:
    h = metaimage.read_header(path)
    lay = metaimage.layout(path, h)
    spacing, origin, direction = metaimage.geometry(h, path.name)
    arr = _native(metaimage.read_voxels(path, lay, h.fields))
    return Volume(arr, tuple(spacing), tuple(origin), tuple(direction))  # type: ignore[arg-type]


def _info(path: Path) -> sitk.ImageFileReader:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as e:
        raise ScanReadError(f"{path.name}: SimpleITK cannot read it ({dicom.error_text(e)})") from e
    _check_shape(reader.GetDimension(), reader.GetNumberOfComponents(), reader.GetSize(), path.name)
    return reader


def _geometry_of(reader: sitk.ImageFileReader | sitk.Image) -> dict[str, tuple]:
    return {
        "spacing": tuple(reader.GetSpacing()),
        "origin": tuple(reader.GetOrigin()),
        "direction": tuple(reader.GetDirection()),
    }


@cache
def numpy_dtype(pixel_id: int) -> np.dtype:
    return sitk.GetArrayViewFromImage(sitk.Image([1, 1, 1], pixel_id)).dtype


def _read_nifti(path: Path) -> Volume:
    header, stored = nifti.read(path)
    bad = count_nonfinite(stored)
    if bad:
        raise ScanReadError(f"{path.name}: {bad} NaN/inf voxels (stored as {stored.dtype.name})")
    info = _info(path)
    if tuple(info.GetSize()) != tuple(header.dims[:3]):
        raise ScanReadError(
            f"{path.name}: SimpleITK reads size {info.GetSize()}, the header says {header.dims}"
        )
    arr = nifti.as_itk_reads(header, stored, numpy_dtype(info.GetPixelID()))
    return Volume(arr, **_geometry_of(info))


def _read_nrrd(path: Path) -> Volume:
    stored = nrrd.read(path)
    if stored is None:  # ascii / hex / bzip2: SimpleITK reads it, we check what it gives
        return _read_sitk(path)
    info = _info(path)
    if tuple(info.GetSize()) != stored.shape[::-1]:
        raise ScanReadError(f"{path.name}: SimpleITK reads size {info.GetSize()}, header differs")
    return Volume(_native(stored), **_geometry_of(info))


def _read_sitk(path: Path) -> Volume:
    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as e:
        raise ScanReadError(f"{path.name}: SimpleITK cannot read it ({dicom.error_text(e)})") from e
    _check_shape(img.GetDimension(), img.GetNumberOfComponentsPerPixel(), img.GetSize(), path.name)
    return Volume.from_sitk(img)


def _check_shape(dim: int, components: int, size, name: str) -> None:
    if dim != 3:
        raise ScanReadError(f"{name}: {dim}D image, expected a 3D volume")
    if components != 1:
        raise ScanReadError(
            f"{name}: {components} components per voxel (a 4D/vector image), "
            "expected a scalar 3D volume"
        )
    if min(size) < 2:
        raise ScanReadError(
            f"{name}: size {tuple(size)} has a single slice (a 2D image), expected 3D"
        )


def read_source(src: ScanSource, cache_dir: Path, dataset: LocationLike = "") -> list[ReadResult]:
    """Read a scan (and its label) or say why not; raises only for I/O faults (``OSError``)."""
    if src.problem:
        return [ReadResult(src.scan_id, src.source_uri, reason=src.problem)]
    with fetched(src, cache_dir, dataset) as (paths, label):
        return read_fetched(src, paths, label)


def read_fetched(src: ScanSource, paths: list[Path], label_path: Path | None) -> list[ReadResult]:
    """Read already-local files (the part that may run in an isolated child process)."""
    if src.format == "dicom":
        return read_dicom_folder(src, paths)
    try:
        vol = _guarded(read_image, paths[0])
        label = _guarded(read_image, label_path) if label_path is not None else None
    except ScanReadError as e:
        return [ReadResult(src.scan_id, src.source_uri, reason=str(e))]
    return [ReadResult(src.scan_id, src.source_uri, volume=vol, label=label)]


def _guarded(fn, path: Path):
    """Run a reader; anything but an I/O fault that escapes it is bad data, said plainly."""
    try:
        return fn(path)
    except ScanReadError:
        raise
    except PermissionError as e:
        raise ScanReadError(f"{path.name}: cannot be opened (permission denied)") from e
    except OSError:
        raise  # an I/O fault, not bad data: retried by the caller, then fails the run
    except Exception as e:  # noqa: BLE001 - a malformed file must never end the run
        raise ScanReadError(f"{path.name}: unreadable ({type(e).__name__}: {e})") from e


def read_dicom_folder(src: ScanSource, paths: list[Path]) -> list[ReadResult]:
    """One result per series in the folder, plus one per file that is no readable image."""
    reader = sitk.ImageFileReader()
    infos: list[dicom.Slice] = []
    broken: list[tuple[str, Path]] = []
    for uri, p in zip(src.files, paths, strict=True):
        try:
            infos.append(dicom.slice_info(reader, p))
        except RuntimeError:
            broken.append((uri, p))
    series: dict[str, list[dicom.Slice]] = {}
    for s in infos:
        series.setdefault(s.series or src.scan_id, []).append(s)
    results = [_leftover(src, uri, p) for uri, p in broken]
    if len(series) > 1:
        ids = sorted(series)
        reason = (
            f"folder {src.source_uri} mixes {len(ids)} DICOM series "
            f"({', '.join(s[-12:] for s in ids)}); put one series per folder"
        )
        results += [ReadResult(sid, f"{src.source_uri}#{sid}", reason=reason) for sid in ids]
    for sid, slices in series.items():
        if len(series) == 1:
            results.append(_read_series(sid, src.source_uri, slices, broken))
    if not results:
        results.append(
            ReadResult(
                src.scan_id, src.source_uri, reason=f"no readable DICOM image in {src.source_uri}"
            )
        )
    return results


def _read_series(
    sid: str, uri: str, slices: list[dicom.Slice], broken: list[tuple[str, Path]]
) -> ReadResult:
    label = f"DICOM series {sid}"
    inside = [
        p.name for _, p in broken if dicom.raw_series_uid(p) == sid and dicom.has_pixel_data(p)
    ]
    if inside:
        return ReadResult(
            sid,
            uri,
            reason=f"{label}: slice {inside[0]} of this series cannot be decoded"
            + (f" (and {len(inside) - 1} more)" if len(inside) > 1 else ""),
        )
    notes: list[str] = []
    try:
        if len(slices) == 1 and slices[0].frames > 1:  # multi-frame: its frames are the slices
            label = f"{label} (multi-frame {slices[0].path.name}, {slices[0].frames} frames)"
            slices = dicom.frame_slices(slices[0], label)
        else:
            slices, notes = dicom.drop_localizers(slices, label)
        ordered, geometry = dicom.check_series(slices, label)
        vol = Volume(dicom.read_slices(ordered, label, notes), **geometry)
        check_geometry(vol.spacing, vol.origin, vol.direction, label)
    except BAD_DATA as e:
        return ReadResult(sid, uri, reason=str(e))
    except MemoryError:
        return ReadResult(sid, uri, reason=f"{label}: not enough memory to hold its voxels")
    return ReadResult(sid, uri, volume=vol, notes="; ".join(notes))


def _leftover(src: ScanSource, uri: str, p: Path) -> ReadResult:
    """A file of the folder that is not a readable DICOM image."""
    return ReadResult(f"{src.scan_id}/{p.name}", uri, reason=f"{p.name}: {_dicom_problem(p)}")


def _dicom_problem(p: Path) -> str:
    with open(p, "rb") as f:
        head = f.read(132)
    if len(head) < 132 or head[128:132] != b"DICM":
        return "not a DICOM file (no DICM preamble) or unreadable"
    if dicom.has_pixel_data(p):
        return "DICOM image that cannot be decoded (truncated or damaged pixel data)"
    return "DICOM file without image data (non-image object) or undecodable"


def content_sha256(vol: Volume) -> str:
    """Hash of the voxel content (dtype, shape and values; not the geometry)."""
    arr = np.ascontiguousarray(vol.array)
    h = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def files_of(source: LocationLike, fmt: str) -> list[Location]:
    """The files to fetch for a catalogued scan (a .mhd's data files, a DICOM folder's slices)."""
    source = Location.of(source)
    if fmt == "dicom":
        fs, path = source.filesystem()
        return [source.at(storage.to_uri(fs, p)) for p in sorted(fs.find(path)) if p[-1] != "/"]
    if fmt == "mhd":
        head = source.read_bytes()[: metaimage.HEADER_LIMIT]
        try:
            names = metaimage.parse_header(head, source.uri).data_files
        except metaimage.MetaImageError:
            return [source]
        base = source.at(source.uri.rsplit("/", 1)[0])
        return [source, *(base.join(n) for n in names)]
    return [source]


def read_catalogued(
    source: LocationLike,
    fmt: str,
    cache_dir: Path,
    expect_sha256: str | None = None,
) -> Volume:
    """Read a scan the catalog accepted, with the same checks as ingest.

    ``expect_sha256``: the catalog's content hash; a file whose voxels changed since
    ingest is refused (re-run ingest).  Raises :class:`ScanReadError` naming the file.
    """
    source = Location.of(source)
    source_uri = source.uri
    files = files_of(source, fmt)
    with storage.staged(files, cache_dir) as paths:
        if fmt != "dicom":
            vol = _guarded(read_image, paths[0])
        else:
            src = ScanSource(source.name, "dicom", source_uri, tuple(f.uri for f in files), "")
            results = read_dicom_folder(src, paths)
            good = [r for r in results if r.volume is not None]
            if len(good) != 1:
                why = next((r.reason for r in results if r.reason), "no readable series")
                raise ScanReadError(f"{source_uri}: {why}")
            vol = good[0].volume
    if expect_sha256 and content_sha256(vol) != expect_sha256:
        raise ScanReadError(
            f"{source_uri}: voxel content changed since ingest (sha256 differs from the "
            "catalog); re-run `genesis ingest`"
        )
    return vol
