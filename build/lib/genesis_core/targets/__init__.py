"""Target-task datasets (SPEC §4) stored like the cube store.

Layout (one Zarr v3 group per store, local path or ``s3://``)::

    STORE/scans/<scan_id>/images   int16 (n, D, H, W) HU; attrs: origins/centres (z, y, x),
                                   spacing/origin/direction of the resampled grid, task,
                                   config hash, source sha256
    STORE/scans/<scan_id>/masks    uint8 (n, D, H, W)   segmentation tasks (lcs, ncs)
    STORE/scans/<scan_id>/labels   int8 (n,)            classification tasks (ncc)
    STORE/manifests/<k>.json, latest.json               committed scans, written last

Each array of a scan is one shard (one object on S3); a scan appears when a manifest
lists it.  Per-scan work: :func:`build_target_scan`; commit: :func:`commit_targets`;
read for fine-tuning: :class:`TargetStore`.
"""

from genesis_core.targets.arrays import TargetArrays
from genesis_core.targets.config import TASKS, TargetConfig
from genesis_core.targets.lcs import lcs_arrays
from genesis_core.targets.ncc import ncc_arrays
from genesis_core.targets.ncs import ncs_arrays
from genesis_core.targets.reader import TargetStore
from genesis_core.targets.scan import build_target_scan, commit_targets, committable, rows_for_scan
from genesis_core.targets.splits import split_target_scans
from genesis_core.targets.writer import write_target_scan

__all__ = [
    "TASKS",
    "TargetArrays",
    "TargetConfig",
    "TargetStore",
    "build_target_scan",
    "commit_targets",
    "committable",
    "lcs_arrays",
    "ncc_arrays",
    "ncs_arrays",
    "rows_for_scan",
    "split_target_scans",
    "write_target_scan",
]
