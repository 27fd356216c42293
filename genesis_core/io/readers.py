"""Read one :class:`ScanSource` into :class:`Volume` objects with SimpleITK.

Every failure is turned into a :class:`ScanReadError` whose message names the
file and the problem; the caller records it (quarantine) and goes on.
A DICOM folder can yield several results: one per series (all quarantined when
a folder mixes series) and one per file that is not a readable DICOM image.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from genesis_core.io import storage
from genesis_core.io.layout import ScanSource
from genesis_core.io.mhd import MhdError, check_mhd
from genesis_core.volume import Volume


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


def fetch(
    src: ScanSource, cache_dir: Path, storage_options: Mapping[str, Any] | None
) -> list[Path]:
    """Local paths of the scan's files, side by side (downloaded when remote)."""
    key = f"{src.source_uri}|{src.fingerprint}"
    return storage.local_group(src.files, cache_dir, key, storage_options)


def read_image(path: Path) -> Volume:
    """Read a 3D image file; raise :class:`ScanReadError` for anything else."""
    if path.suffix.lower() == ".mhd":
        try:
            check_mhd(path)
        except MhdError as e:
            raise ScanReadError(f"{path.name}: {e}") from e
    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as e:
        raise ScanReadError(f"{path.name}: SimpleITK cannot read it ({_first_line(e)})") from e
    return _to_volume(img, path.name)


def _first_line(e: Exception) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[-1][:200] if lines else type(e).__name__


def _to_volume(img: sitk.Image, name: str) -> Volume:
    dim = img.GetDimension()
    if dim != 3:
        raise ScanReadError(f"{name}: {dim}D image, expected a 3D volume")
    if img.GetNumberOfComponentsPerPixel() != 1:
        raise ScanReadError(
            f"{name}: {img.GetNumberOfComponentsPerPixel()} components per voxel "
            "(a 4D/vector image), expected a scalar 3D volume"
        )
    size = img.GetSize()
    if min(size) < 2:
        raise ScanReadError(f"{name}: size {size} has a single slice (a 2D image), expected 3D")
    return Volume.from_sitk(img)


def read_source(
    src: ScanSource, cache_dir: Path, storage_options: Mapping[str, Any] | None = None
) -> list[ReadResult]:
    """Read a scan (and its label) or say why not; never raises for bad data."""
    try:
        paths = fetch(src, cache_dir, storage_options)
    except (OSError, FileNotFoundError) as e:
        return [ReadResult(src.scan_id, src.source_uri, reason=f"cannot fetch: {e}")]
    if src.format == "dicom":
        return read_dicom_folder(src, paths)
    try:
        vol = read_image(paths[0])
        label = None
        if src.label_uri:
            label = read_image(storage.local_copy(src.label_uri, cache_dir, storage_options))
    except ScanReadError as e:
        return [ReadResult(src.scan_id, src.source_uri, reason=str(e))]
    return [ReadResult(src.scan_id, src.source_uri, volume=vol, label=label)]


def read_dicom_folder(src: ScanSource, paths: list[Path]) -> list[ReadResult]:
    """One result per series in the folder, plus one per unreadable file."""
    folder = paths[0].parent
    series = list(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)) or [])
    used: set[str] = set()
    results = []
    for sid in series:
        files = list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), sid))
        used.update(str(Path(f).resolve()) for f in files)
        uri = f"{src.source_uri}#{sid}" if len(series) > 1 else src.source_uri
        if len(series) > 1:
            reason = (
                f"folder {src.source_uri} mixes {len(series)} DICOM series "
                f"({', '.join(s[-12:] for s in series)}); put one series per folder"
            )
            results.append(ReadResult(sid, uri, reason=reason))
            continue
        results.append(_read_series(sid, uri, files))
    results.extend(_leftover_files(src, paths, used))
    if not results:
        results.append(
            ReadResult(
                src.scan_id, src.source_uri, reason=f"no readable DICOM image in {src.source_uri}"
            )
        )
    return results


def _read_series(sid: str, uri: str, files: list[str]) -> ReadResult:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    try:
        img = reader.Execute()
        vol = _to_volume(img, f"DICOM series {sid}")
    except RuntimeError as e:
        return ReadResult(sid, uri, reason=f"DICOM series {sid}: cannot decode ({_first_line(e)})")
    except ScanReadError as e:
        return ReadResult(sid, uri, reason=str(e))
    return ReadResult(sid, uri, volume=vol)


def _leftover_files(src: ScanSource, paths: list[Path], used: set[str]) -> list[ReadResult]:
    """Files of the folder that belong to no series: unreadable or non-image DICOM."""
    out = []
    for uri, p in zip(src.files, paths, strict=True):
        if str(p.resolve()) in used:
            continue
        why = _dicom_problem(p)
        out.append(ReadResult(f"{src.scan_id}/{p.name}", uri, reason=f"{p.name}: {why}"))
    return out


def _dicom_problem(p: Path) -> str:
    with open(p, "rb") as f:
        head = f.read(132)
    if len(head) < 132 or head[128:132] != b"DICM":
        return "not a DICOM file (no DICM preamble) or unreadable"
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(p))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return "DICOM file without image data (non-image object) or undecodable"
    return "DICOM image not part of any readable series"


def content_sha256(vol: Volume) -> str:
    """Hash of the voxel content (dtype, shape and values; not the geometry)."""
    import hashlib

    arr = np.ascontiguousarray(vol.array)
    h = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def files_of(
    source_uri: str, fmt: str, storage_options: Mapping[str, Any] | None = None
) -> list[str]:
    """The files to fetch for a catalogued scan (a .mhd's data file, a DICOM folder's slices)."""
    if fmt == "dicom":
        fs, path = storage.filesystem(source_uri.split("#", 1)[0], storage_options)
        return [storage.to_uri(fs, p) for p in sorted(fs.find(path)) if not p.endswith("/")]
    if fmt == "mhd":
        from genesis_core.io.mhd import data_file_name, parse_header

        text = storage.read_bytes(source_uri, storage_options).decode(errors="replace")
        name = data_file_name(parse_header(text))
        if name:
            return [source_uri, storage.join(source_uri.rsplit("/", 1)[0], name)]
    return [source_uri]


def read_catalogued(
    source_uri: str,
    fmt: str,
    cache_dir: Path,
    storage_options: Mapping[str, Any] | None = None,
) -> Volume:
    """Read a scan the catalog accepted; raises :class:`ScanReadError` naming the file."""
    files = files_of(source_uri, fmt, storage_options)
    paths = storage.local_group(files, cache_dir, source_uri, storage_options)
    if fmt != "dicom":
        return read_image(paths[0])
    sid = source_uri.split("#", 1)[1] if "#" in source_uri else None
    folder = str(paths[0].parent)
    series = sid or (sitk.ImageSeriesReader.GetGDCMSeriesIDs(folder) or [None])[0]
    if series is None:
        raise ScanReadError(f"{source_uri}: no DICOM series found")
    result = _read_series(
        series, source_uri, list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, series))
    )
    if result.volume is None:
        raise ScanReadError(result.reason)
    return result.volume
