"""Small synthetic LUNA16 and LiTS datasets for the target-task tests (written once per session)."""

from __future__ import annotations

import pandas as pd
import pytest

from genesis_core.io.readers import content_sha256, read_image
from genesis_core.synth import write_lits, write_luna16


def _sha(path) -> str:
    """The content hash ingest would catalog (readers refuse a scan whose content changed)."""
    return content_sha256(read_image(path))


@pytest.fixture(scope="session")
def luna(tmp_path_factory):
    """Two chest scans (128×128×64 voxels), one 10 mm nodule each, in subsets 0 and 5."""
    return write_luna16(
        tmp_path_factory.mktemp("luna16"), scans=2, seed=3, size_xyz=(128, 128, 64), nodules=[10.0]
    )


@pytest.fixture(scope="session")
def lits(tmp_path_factory):
    """Two abdomen cases (96×96×40 voxels) in the LiTS layout."""
    return write_lits(tmp_path_factory.mktemp("lits"), scans=2, seed=5, size_xyz=(96, 96, 40))


@pytest.fixture(scope="session")
def candidates(luna) -> pd.DataFrame:
    return pd.read_csv(luna.candidates_csv)


@pytest.fixture(scope="session")
def annotations(luna) -> pd.DataFrame:
    return pd.read_csv(luna.annotations_csv)


def luna_row(scan) -> dict:
    """A catalog row for one synthetic LUNA16 scan."""
    return {
        "scan_id": scan.uid,
        "source_uri": str(scan.mhd),
        "format": "mhd",
        "label_uri": None,
        "sha256": _sha(scan.mhd),
        "subset": scan.subset,
    }


def lits_row(case) -> dict:
    """A catalog row for one synthetic LiTS case (subset unknown, as ingest leaves it)."""
    return {
        "scan_id": f"volume-{case.index}",
        "source_uri": str(case.volume),
        "format": "nifti",
        "label_uri": str(case.segmentation),
        "sha256": _sha(case.volume),
        "subset": float("nan"),
    }
