"""Detect a dataset's layout and list its scans, without reading any voxels.

Layouts: LUNA16 (``subsetK/<uid>.mhd``), LiTS (``volume-N`` / ``segmentation-N``),
Medical Segmentation Decathlon (``dataset.json``, ``imagesTr``/``labelsTr``), a
tree of DICOM files (one scan per folder; series are split when read), and a
plain folder of ``.mhd/.nii/.nii.gz/.nrrd/.nhdr`` files.  A tree may mix them;
the reported layout is the most specific one found.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from genesis_core.io import storage

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".mhd", ".nrrd", ".nhdr")
DICOM_SUFFIXES = (".dcm", ".ima")
_SUBSET = re.compile(r"^subset(\d+)$")
_LITS_VOLUME = re.compile(r"^volume-(\d+)\.nii(\.gz)?$")


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


def list_source(uri: str, storage_options: Mapping[str, Any] | None = None) -> Listing:
    """List the scans under ``uri`` (local folder or ``s3://`` prefix)."""
    fs, root = storage.filesystem(uri, storage_options)
    if not fs.exists(root):
        raise FileNotFoundError(f"SOURCE {uri} does not exist")
    if not fs.isdir(root):
        raise NotADirectoryError(f"SOURCE {uri} is not a folder")
    infos = {p: i for p, i in fs.find(root, detail=True).items() if i.get("type") != "directory"}
    rel = {
        p: PurePosixPath(p).relative_to(PurePosixPath(root.rstrip("/"))).as_posix() for p in infos
    }
    by_rel = {r: p for p, r in rel.items()}
    uri_of = {p: storage.to_uri(fs, p) for p in infos}
    listing = Listing(layout="plain")
    if "annotations.csv" in by_rel:
        listing.annotations_uri = uri_of[by_rel["annotations.csv"]]
    if "candidates.csv" in by_rel:
        listing.candidates_uri = uri_of[by_rel["candidates.csv"]]
    if "dataset.json" in by_rel and any(r.startswith("imagesTr/") for r in by_rel):
        listing.layout = "msd"
        listing.scans = _msd_scans(by_rel, infos, uri_of)
    else:
        listing.scans = _file_scans(by_rel, infos, uri_of, listing)
    listing.scans.extend(_dicom_scans(by_rel, infos, uri_of, listing))
    listing.scans = _unique_ids(listing.scans)
    return listing


def _msd_scans(by_rel, infos, uri_of) -> list[ScanSource]:
    out = []
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
        files = [p] + ([label] if label else [])
        out.append(
            ScanSource(
                scan_id=_stem(parts[1]).removesuffix("_0000"),
                format=_format_of(parts[1]),
                source_uri=uri_of[p],
                files=(uri_of[p],),
                fingerprint=_fp(infos[f] for f in files),
                label_uri=uri_of[label] if label else None,
            )
        )
    return out


def _format_of(name: str) -> str:
    return {".nii.gz": "nifti", ".nii": "nifti", ".mhd": "mhd", ".nrrd": "nrrd", ".nhdr": "nrrd"}[
        _suffix(name)
    ]


def _file_scans(by_rel, infos, uri_of, listing: Listing) -> list[ScanSource]:
    out = []
    for r, p in sorted(by_rel.items()):
        name = r.rsplit("/", 1)[-1]
        suffix = _suffix(name)
        if suffix not in IMAGE_SUFFIXES or name.startswith(".") or name.startswith("segmentation-"):
            continue
        files, label, subset = [p], None, None
        parent = r.rsplit("/", 1)[0] if "/" in r else ""
        m = _SUBSET.match(parent.rsplit("/", 1)[-1]) if parent else None
        if m:
            subset = int(m.group(1))
            listing.layout = "luna16"
        if suffix == ".mhd":
            raw = _raw_partner(by_rel, r)
            if raw:
                files.append(raw)
        lits = _LITS_VOLUME.match(name)
        if lits:
            listing.layout = "lits" if listing.layout == "plain" else listing.layout
            label = _lits_label(by_rel, parent, lits.group(1))
        fp_files = files + ([label] if label else [])
        out.append(
            ScanSource(
                scan_id=_stem(name),
                format=_format_of(name),
                source_uri=uri_of[p],
                files=tuple(uri_of[f] for f in files),
                fingerprint=_fp(infos[f] for f in fp_files),
                label_uri=uri_of[label] if label else None,
                subset=subset,
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


def _lits_label(by_rel, parent: str, n: str) -> str | None:
    prefix = f"{parent}/" if parent else ""
    for ext in (".nii.gz", ".nii"):
        hit = by_rel.get(f"{prefix}segmentation-{n}{ext}")
        if hit:
            return hit
    return None


def _dicom_scans(by_rel, infos, uri_of, listing: Listing) -> list[ScanSource]:
    folders: dict[str, list[str]] = defaultdict(list)
    for r, p in by_rel.items():
        name = r.rsplit("/", 1)[-1]
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
