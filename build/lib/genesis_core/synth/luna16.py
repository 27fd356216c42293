"""Write a synthetic LUNA16 dataset: ``subsetK/<seriesuid>.mhd/.raw``, annotations, candidates.

Layout, as the real challenge ships it::

    out_dir/subset0 … subset{n-1}/<seriesuid>.mhd + .raw   int16 HU, uncompressed MetaImage
    out_dir/annotations.csv   seriesuid,coordX,coordY,coordZ,diameter_mm
    out_dir/candidates.csv    seriesuid,coordX,coordY,coordZ,class

Scan *i* goes to subset ``i % subsets``.  Coordinates are world mm (X, Y, Z):
``origin + direction @ (index * spacing)`` of the nodule's centre voxel.  Each
scan has its own spacing (in-plane 0.6–0.9 mm, slices 0.7–2.5 mm) and origin.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from genesis_core.synth.candidates import negative_positions
from genesis_core.synth.chest import make_chest
from genesis_core.synth.placement import Ball
from genesis_core.synth.scan_geometry import ScanGeometry, random_geometry, scan_rng, series_uid
from genesis_core.volume import Volume

ANNOTATION_COLUMNS = ("seriesuid", "coordX", "coordY", "coordZ", "diameter_mm")
CANDIDATE_COLUMNS = ("seriesuid", "coordX", "coordY", "coordZ", "class")


@dataclass(frozen=True)
class Luna16Scan:
    """One written scan: its UID, subset, ``.mhd`` path, geometry and nodules (voxel indices)."""

    uid: str
    subset: int
    mhd: Path
    geometry: ScanGeometry
    nodules: tuple[Ball, ...]

    @property
    def raw(self) -> Path:
        return self.mhd.with_suffix(".raw")


@dataclass(frozen=True)
class Luna16Synth:
    """A written synthetic LUNA16 dataset."""

    root: Path
    scans: tuple[Luna16Scan, ...]
    annotations_csv: Path
    candidates_csv: Path

    @property
    def mhd_paths(self) -> list[Path]:
        return [s.mhd for s in self.scans]


def write_luna16(
    out_dir: str | Path,
    scans: int,
    seed: int,
    size_xyz: Sequence[int] = (128, 128, 64),
    subsets: int = 10,
    nodules: int | Sequence[float] | None = None,
    fov_mm: float | None = None,
    slice_mm: tuple[float, float] | None = None,
) -> Luna16Synth:
    """Write ``scans`` chest phantoms of ``size_xyz`` voxels in the LUNA16 layout.

    ``nodules`` is passed to :func:`~genesis_core.synth.chest.chest_phantom`
    (None: 1–3 per scan).  Same ``seed`` → byte-identical arrays and CSVs.
    ``fov_mm``: in-plane field of view (pixel spacing drawn within ±8 % of
    ``fov_mm / size``; a real chest CT sees 320–400 mm); ``slice_mm``: slice thickness
    range.  Unset, the spacings of :func:`random_geometry` (0.6–0.9 mm pixels).
    Scans are spread over the subsets so that any three or more land in train (0–4),
    validation (5–6) and test (7–9) alike.
    """
    root = Path(out_dir)
    for k in range(subsets):
        (root / f"subset{k}").mkdir(parents=True, exist_ok=True)
    written, annotations, candidates = [], [], []
    for i in range(scans):
        scan, ann, cand = write_luna16_scan(
            root,
            i,
            seed,
            size_xyz,
            subset_of(i, subsets),
            nodules,
            _ranges(size_xyz, fov_mm, slice_mm),
        )
        written.append(scan)
        annotations += ann
        candidates += cand
    synth = Luna16Synth(root, tuple(written), root / "annotations.csv", root / "candidates.csv")
    _write_csv(synth.annotations_csv, ANNOTATION_COLUMNS, annotations)
    _write_csv(synth.candidates_csv, CANDIDATE_COLUMNS, candidates)
    return synth


# Subsets in an order that alternates the splits (train 0–4, val 5–6, test 7–9).
SPREAD = (0, 5, 7, 1, 6, 8, 2, 9, 3, 4)


def subset_of(index: int, subsets: int) -> int:
    """The subset of scan ``index``: every split early on, each subset once per 10 scans."""
    return SPREAD[index % 10] if subsets == 10 else index % subsets


def _ranges(size_xyz, fov_mm: float | None, slice_mm) -> dict:
    out: dict = {} if slice_mm is None else {"slice_mm": tuple(slice_mm)}
    if fov_mm is not None:
        pixel = fov_mm / max(size_xyz[0], size_xyz[1])
        out["inplane_mm"] = (0.92 * pixel, 1.08 * pixel)
    return out


def write_luna16_scan(
    root: Path,
    index: int,
    seed: int,
    size_xyz,
    subset: int,
    nodules=None,
    geometry_ranges: dict | None = None,
):
    """Write scan ``index``; returns (:class:`Luna16Scan`, annotation rows, candidate rows)."""
    rng = scan_rng(seed, "luna16", index)
    uid, geometry = series_uid(rng), random_geometry(rng, **(geometry_ranges or {}))
    phantom = make_chest(size_xyz, geometry.spacing_xyz, rng, nodules)
    volume = Volume(phantom.hu, geometry.spacing_xyz, geometry.origin_xyz)
    mhd = root / f"subset{subset}" / f"{uid}.mhd"
    _write_mhd(volume, mhd)
    ann = [[uid, *_world(volume, n.center_index_xyz), n.diameter_mm] for n in phantom.nodules]
    count = int(rng.integers(5, 11)) * max(1, len(phantom.nodules))
    negatives = negative_positions(
        phantom.tissue, geometry.spacing_xyz, rng, count, phantom.nodules
    )
    cand = [[uid, *_world(volume, n.center_index_xyz), 1] for n in phantom.nodules]
    cand += [[uid, *_world(volume, idx), 0] for idx in negatives]
    scan = Luna16Scan(uid, subset, mhd, geometry, tuple(phantom.nodules))
    return scan, ann, cand


def _write_mhd(volume: Volume, path: Path) -> None:
    """MetaImage header + separate uncompressed ``.raw`` (SimpleITK picks the name)."""
    import SimpleITK as sitk

    sitk.WriteImage(volume.to_sitk(), str(path), useCompression=False)


def _world(volume: Volume, index_xyz) -> list[float]:
    """Voxel index (X, Y, Z) → world mm (X, Y, Z), rounded to 1e-6 mm."""
    return [round(float(v), 6) for v in volume.index_to_world(tuple(index_xyz))]


def _write_csv(path: Path, columns: Sequence[str], rows: list[list]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)
