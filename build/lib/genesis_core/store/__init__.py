"""The cube store: a Zarr v3 group of per-scan sharded int16 cube arrays plus JSON manifests.

Layout (one group per store, local path or ``s3://``)::

    STORE/zarr.json
    STORE/scans/<scan_id>/cubes        int16 (n, D, H, W) HU; one chunk per cube, one shard per scan
                                        attrs: origins (n×3 voxel z,y,x in the resampled grid),
                                        spacing/origin/direction of that grid, source sha256, config hash
    STORE/manifests/<k>.json           committed scans and cube counts (k = 1, 2, …)
    STORE/manifests/latest.json        pointer to the newest manifest, written last

A reader sees exactly the scans of one manifest: a scan written by a crashed run
but never listed is invisible, and is overwritten when the work is redone.
"""

from genesis_core.store.manifest import Manifest, ScanEntry, commit_scans, read_latest
from genesis_core.store.reader import CubeStore
from genesis_core.store.writer import write_scan

__all__ = ["CubeStore", "Manifest", "ScanEntry", "commit_scans", "read_latest", "write_scan"]
