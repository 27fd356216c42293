"""Write a synthetic LiTS dataset: ``volume-N.nii.gz`` and ``segmentation-N.nii.gz``.

Layout, as the LiTS challenge ships its training data (flat folder)::

    out_dir/volume-0.nii.gz         int16 HU (Z, Y, X) on disk as NIfTI
    out_dir/segmentation-0.nii.gz   uint8: 0 background, 1 liver, 2 tumour

Each case has its own spacing (in-plane 0.6–0.9 mm, slices 0.8–2.5 mm) and a
non-zero origin; volume and segmentation share the geometry exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from genesis_core.synth.abdomen import make_abdomen
from genesis_core.synth.placement import Ball
from genesis_core.synth.scan_geometry import ScanGeometry, random_geometry, scan_rng
from genesis_core.volume import Volume


@dataclass(frozen=True)
class LitsCase:
    """One written case: its number, both paths, geometry and lesions (voxel indices)."""

    index: int
    volume: Path
    segmentation: Path
    geometry: ScanGeometry
    lesions: tuple[Ball, ...]


@dataclass(frozen=True)
class LitsSynth:
    """A written synthetic LiTS dataset."""

    root: Path
    cases: tuple[LitsCase, ...]


def write_lits(
    out_dir: str | Path,
    scans: int,
    seed: int,
    size_xyz: Sequence[int] = (128, 128, 48),
    lesions: int | Sequence[float] | None = None,
) -> LitsSynth:
    """Write ``scans`` abdomen phantoms of ``size_xyz`` voxels in the LiTS layout.

    ``lesions`` is passed to :func:`~genesis_core.synth.abdomen.abdomen_phantom`
    (None: 1–3 per case).  Same ``seed`` → byte-identical arrays.
    """
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    return LitsSynth(
        root, tuple(write_lits_case(root, i, seed, size_xyz, lesions) for i in range(scans))
    )


def write_lits_case(root: Path, index: int, seed: int, size_xyz, lesions=None) -> LitsCase:
    """Write case ``index`` (``volume-<index>`` and ``segmentation-<index>``)."""
    import SimpleITK as sitk

    rng = scan_rng(seed, "lits", index)
    geometry = random_geometry(rng, slice_mm=(0.8, 2.5), origin_z_mm=(-500.0, -100.0))
    phantom = make_abdomen(size_xyz, geometry.spacing_xyz, rng, lesions)
    case = LitsCase(
        index,
        root / f"volume-{index}.nii.gz",
        root / f"segmentation-{index}.nii.gz",
        geometry,
        tuple(phantom.lesions),
    )
    for array, path in ((phantom.hu, case.volume), (phantom.label, case.segmentation)):
        image = Volume(array, geometry.spacing_xyz, geometry.origin_xyz).to_sitk()
        sitk.WriteImage(image, str(path), useCompression=True)
    return case
