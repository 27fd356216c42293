"""Detect a dataset's layout and list its scans, without reading any voxels.

Layouts: LUNA16 (``subsetK/<uid>.mhd``), LiTS (``volume-N`` / ``segmentation-N``),
Medical Segmentation Decathlon (``dataset.json``, ``imagesTr``/``labelsTr``), a
tree of DICOM files (one scan per folder; series are split when read), and a
plain folder of ``.mhd/.nii/.nii.gz/.nrrd/.nhdr`` files.  A tree may mix them;
the reported layout is the most specific one found.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from fsspec.implementations.local import LocalFileSystem

from genesis_core.io import metaimage, storage
from genesis_core.io.payload import file_kind
from genesis_core.io.storage import Location, LocationLike

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".mhd", ".nrrd", ".nhdr")
DICOM_SUFFIXES = (".dcm", ".ima")
_SUBSET = re.compile(r"^subset(\d+)$")
_LITS_VOLUME = re.compile(r"^volume-(\d+)\.nii(\.gz)?$")
_LITS_LABEL = re.compile(r"^segmentation-(\d+)\.nii(\.gz)?$")


@dataclass(frozen=True)
class ScanSource:
    """Where one scan lives.  ``files`` are all files to fetch (image first).

    ``fingerprint`` summarises the listing entries of ``files`` (and of the
    label), so a rerun can tell an unchanged scan without reading it.
    """

    scan_id: str
    format: str  # "mhd" | "nifti" | "nrrd" | "dicom"
    source_uri: str
    files: tuple[str, ...]
    fingerprint: str
    label_uri: str | None = None
    subset: int | None = None
    # label values a segmentation may hold (LiTS: 0, 1, 2; MSD: its dataset.json); None = any
    label_values: tuple[int, ...] | None = None
    # set when the listing alone shows the entry is unusable (a FIFO, a name that is not
    # UTF-8, a label without its volume): it is catalogued as quarantined, never opened
    problem: str = ""


@dataclass
class Listing:
    """The result of scanning a SOURCE: scans plus side files (annotation CSVs)."""

    layout: str
    scans: list[ScanSource] = field(default_factory=list)
    annotations_uri: str | None = None
    candidates_uri: str | None = None


def _suffix(name: str) -> str:
    lower = name.lower()
    for s in IMAGE_SUFFIXES + DICOM_SUFFIXES:
        if lower.endswith(s):
            return s
    return ""


def _stem(name: str) -> str:
    s = _suffix(name)
    return name[: -len(s)] if s else name


def _fp(infos: Iterable[Mapping[str, Any]]) -> str:
    h = hashlib.sha256()
    for info in infos:
        h.update(storage.fingerprint(info).encode())
    return h.hexdigest()[:32]


def list_source(source: LocationLike) -> Listing:
    """List the scans under ``source`` (local folder or ``s3://`` prefix).

    Entries the listing alone shows to be unusable (special files, names that are not
    UTF-8) become scans with a ``problem`` and are never opened.
    """
    source = Location.of(source)
    uri = source.uri
    fs, root = source.filesystem()
    if not fs.exists(root):
        raise FileNotFoundError(f"SOURCE {uri} does not exist")
    if not fs.isdir(root):
        raise NotADirectoryError(f"SOURCE {uri} is not a folder")
    found = {p: i for p, i in fs.find(root, detail=True).items() if i.get("type") != "directory"}
    base = PurePosixPath(root.rstrip("/"))
    infos, problems = {}, []
    for p, info in found.items():
        rel = PurePosixPath(p).relative_to(base).as_posix()
        why = _entry_problem(fs, p, rel, info)
        if why:
            problems.append(_problem_source(rel, storage.to_uri(fs, p), info, why))
        else:
            infos[p] = info
    by_rel = {PurePosixPath(p).relative_to(base).as_posix(): p for p in infos}
    uri_of = {p: storage.to_uri(fs, p) for p in infos}
    listing = Listing(layout="plain")
    if "annotations.csv" in by_rel:
        listing.annotations_uri = uri_of[by_rel["annotations.csv"]]
    if "candidates.csv" in by_rel:
        listing.candidates_uri = uri_of[by_rel["candidates.csv"]]
    if "dataset.json" in by_rel and any(r.startswith("imagesTr/") for r in by_rel):
        listing.layout = "msd"
        listing.scans = _msd_scans(by_rel, infos, uri_of, fs)
    else:
        listing.scans = _file_scans(by_rel, infos, uri_of, listing, fs)
    claimed = {f for s in listing.scans for f in s.files[1:]}
    listing.scans.extend(_dicom_scans(by_rel, infos, uri_of, listing, claimed))
    listing.scans = _unique_ids(listing.scans + problems)
    return listing


def printable(name: str) -> str:
    """A file name as valid UTF-8 text (undecodable bytes shown as \\xNN)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _entry_problem(fs, path: str, rel: str, info: Mapping[str, Any]) -> str:
    shown = printable(rel)
    if shown != rel:
        return f"file name '{shown}' is not valid UTF-8: not opened; rename the file"
    if isinstance(fs, LocalFileSystem):
        try:
            mode = os.stat(path).st_mode
        except (FileNotFoundError, NotADirectoryError) as e:
            return f"{rel}: cannot be opened ({e.strerror or e}; a broken symbolic link?)"
        except OSError as e:
            if e.errno != errno.ELOOP:
                raise  # an I/O fault (EIO, a stale NFS handle): retried, never a quarantine row
            return f"{rel}: cannot be opened ({e.strerror}; a symbolic link loop)"
        if not stat.S_ISREG(mode):
            return f"{rel} is {file_kind(mode)}, not a regular file: not opened"
    elif info.get("type") not in (None, "file"):
        return f"{rel} is not a regular file (type {info.get('type')!r}): not opened"
    return ""


def _problem_source(rel: str, uri: str, info: Mapping[str, Any], why: str) -> ScanSource:
    name = printable(rel.rsplit("/", 1)[-1])
    fmt = format_of(name) or "unknown"
    return ScanSource(
        scan_id=_stem(name) or name,
        format=fmt,
        source_uri=printable(uri),
        files=(),
        fingerprint=_fp([info]),
        problem=why,
    )


def _nhdr_data_files(fs, path: str, rel: str, by_rel) -> list[str]:
    """The detached data file a ``.nhdr`` names (inside the folder), as a listing path."""
    try:
        head = fs.cat_file(path, start=0, end=metaimage.HEADER_LIMIT).split(b"\n\n")[0]
    except (OSError, ValueError):
        return []
    folder = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
    for line in metaimage.header_text(head).splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("data file", "datafile") and value.strip():
            p = PurePosixPath(value.strip())
            if not p.is_absolute() and ".." not in p.parts:
                hit = by_rel.get(folder + p.as_posix())
                return [hit] if hit else []
    return []


def _mhd_data_files(fs, path: str, rel: str, by_rel) -> list[str] | None:
    """Listing paths of the data files a header names (None when it cannot be parsed)."""
    try:
        head = fs.cat_file(path, start=0, end=metaimage.HEADER_LIMIT)
        names = metaimage.parse_header(head, rel).data_files
    except (metaimage.MetaImageError, ValueError):
        return None
    folder = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
    out = []
    for n in names:
        p = PurePosixPath(n.replace("\\", "/"))
        if p.is_absolute() or ".." in p.parts:
            return []  # refused by the reader, which says why; never fingerprinted or fetched
        hit = by_rel.get(folder + p.as_posix())
        if hit:
            out.append(hit)
    return out


def _msd_scans(by_rel, infos, uri_of, fs) -> list[ScanSource]:
    values = _msd_label_values(fs, by_rel.get("dataset.json"))
    out, images = [], set()
    for r, p in sorted(by_rel.items()):
        parts = r.split("/")
        if len(parts) != 2 or parts[0] not in ("imagesTr", "imagesTs") or parts[1].startswith("."):
            continue
        if _suffix(parts[1]) not in IMAGE_SUFFIXES:
            continue
        label = (
            by_rel.get(f"labelsTr/{parts[1].replace('_0000', '')}")
            if parts[0] == "imagesTr"
            else None
        )
        images.add(parts[1].replace("_0000", ""))
        files = [p] + ([label] if label else [])
        out.append(
            ScanSource(
                scan_id=_stem(parts[1]).removesuffix("_0000"),
                format=format_of(parts[1]),
                source_uri=uri_of[p],
                files=(uri_of[p],),
                fingerprint=_fp(infos[f] for f in files),
                label_uri=uri_of[label] if label else None,
                label_values=values if label else None,
            )
        )
    for r, p in sorted(by_rel.items()):
        parts = r.split("/")
        if len(parts) == 2 and parts[0] == "labelsTr" and _suffix(parts[1]) in IMAGE_SUFFIXES:
            if parts[1] not in images and not parts[1].startswith("."):
                out.append(_orphan_label(r, p, infos, uri_of, f"imagesTr/{_stem(parts[1])}_0000"))
    return out


def _msd_label_values(fs, path: str | None) -> tuple[int, ...] | None:
    """Every label value ``dataset.json`` names (background 0 included); None if unknown."""
    if path is None:
        return None
    from genesis_core.io.msd import label_table

    try:
        table = label_table(json.loads(fs.cat_file(path)))
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None
    values = {v for vs in table.values() for v in vs} | {0}
    return tuple(sorted(values)) if len(values) > 1 else None


def _orphan_label(r: str, p: str, infos, uri_of, wanted: str) -> ScanSource:
    name = r.rsplit("/", 1)[-1]
    return ScanSource(
        scan_id=_stem(name),
        format=format_of(name),
        source_uri=uri_of[p],
        files=(),
        fingerprint=_fp([infos[p]]),
        problem=f"{r} is a segmentation with no image to go with it ({wanted}.nii[.gz] is missing)",
    )


def format_of(name: str) -> str:
    """mhd | nifti | nrrd by the file name; '' for anything else."""
    return {
        ".nii.gz": "nifti",
        ".nii": "nifti",
        ".mhd": "mhd",
        ".nrrd": "nrrd",
        ".nhdr": "nrrd",
    }.get(_suffix(name), "")


LITS_LABEL_VALUES = (0, 1, 2)  # background, liver, tumour


def _file_scans(by_rel, infos, uri_of, listing: Listing, fs) -> list[ScanSource]:
    out = []
    for r, p in sorted(by_rel.items()):
        name = r.rsplit("/", 1)[-1]
        suffix = _suffix(name)
        if suffix not in IMAGE_SUFFIXES or name.startswith("."):
            continue
        parent = r.rsplit("/", 1)[0] if "/" in r else ""
        seg = _LITS_LABEL.match(name)
        if name.startswith("segmentation-"):
            if not seg or not _lits_partner(by_rel, parent, "volume", seg.group(1)):
                n = seg.group(1) if seg else "N"
                wanted = f"{parent}/volume-{n}".lstrip("/")
                out.append(_orphan_label(r, p, infos, uri_of, wanted))
            continue
        files, label, subset = [p], None, None
        m = _SUBSET.match(parent.rsplit("/", 1)[-1]) if parent else None
        if m:
            subset = int(m.group(1))
            listing.layout = "luna16"
        if suffix == ".nhdr":
            files.extend(d for d in _nhdr_data_files(fs, p, r, by_rel) if d not in files)
        if suffix == ".mhd":
            data = _mhd_data_files(fs, p, r, by_rel)
            if data is None:
                raw = _raw_partner(by_rel, r)
                data = [raw] if raw else []
            files.extend(d for d in data if d not in files)
        lits = _LITS_VOLUME.match(name)
        if lits:
            listing.layout = "lits" if listing.layout == "plain" else listing.layout
            label = _lits_partner(by_rel, parent, "segmentation", lits.group(1))
        fp_files = files + ([label] if label else [])
        out.append(
            ScanSource(
                scan_id=_stem(name),
                format=format_of(name),
                source_uri=uri_of[p],
                files=tuple(uri_of[f] for f in files),
                fingerprint=_fp(infos[f] for f in fp_files),
                label_uri=uri_of[label] if label else None,
                subset=subset,
                label_values=LITS_LABEL_VALUES if label else None,
            )
        )
    if listing.layout == "plain" and (listing.annotations_uri or listing.candidates_uri):
        listing.layout = "luna16"
    return out


def _raw_partner(by_rel, mhd_rel: str) -> str | None:
    """The data file next to an .mhd, by the usual naming (checked again on read)."""
    base = mhd_rel[: -len(".mhd")]
    for ext in (".raw", ".zraw", ".RAW"):
        if base + ext in by_rel:
            return by_rel[base + ext]
    return None


def _lits_partner(by_rel, parent: str, kind: str, n: str) -> str | None:
    prefix = f"{parent}/" if parent else ""
    for ext in (".nii.gz", ".nii"):
        hit = by_rel.get(f"{prefix}{kind}-{n}{ext}")
        if hit:
            return hit
    return None


def _dicom_scans(by_rel, infos, uri_of, listing: Listing, claimed: set[str]) -> list[ScanSource]:
    folders: dict[str, list[str]] = defaultdict(list)
    for r, p in by_rel.items():
        name = r.rsplit("/", 1)[-1]
        if uri_of[p] in claimed:
            continue  # a MetaImage data file without an extension
        if _suffix(name) in DICOM_SUFFIXES or ("." not in name and not name.startswith(".")):
            folders[r.rsplit("/", 1)[0] if "/" in r else ""].append(p)
    out = []
    for folder, paths in sorted(folders.items()):
        paths.sort()
        dicom_like = [p for p in paths if _suffix(p) in DICOM_SUFFIXES]
        if not dicom_like and len(paths) < 2:
            continue  # a lone extension-less file is not a DICOM series
        if listing.layout == "plain":
            listing.layout = "dicom"
        folder_uri = uri_of[paths[0]].rsplit("/", 1)[0]
        out.append(
            ScanSource(
                scan_id=PurePosixPath(folder).name or "dicom",
                format="dicom",
                source_uri=folder_uri,
                files=tuple(uri_of[p] for p in paths),
                fingerprint=_fp(infos[p] for p in paths),
            )
        )
    return out


def _unique_ids(scans: list[ScanSource]) -> list[ScanSource]:
    """Make scan ids unique deterministically (suffix a hash of the source URI)."""
    seen: dict[str, int] = defaultdict(int)
    for s in scans:
        seen[s.scan_id] += 1
    out = []
    for s in scans:
        if seen[s.scan_id] > 1:
            tag = hashlib.sha256(s.source_uri.encode()).hexdigest()[:8]
            s = ScanSource(**{**s.__dict__, "scan_id": f"{s.scan_id}-{tag}"})
        out.append(s)
    return out
