"""`TargetStore`: read a committed target-task store as a fine-tuning ``PairReader``.

``read(indices)`` → ``(inputs, targets)``: inputs float32 (n, D, H, W) in [0, 1]
through the store's HU window; targets float32 masks (n, D, H, W) {0, 1}
(segmentation) or float32 labels (n,) {0, 1} (classification).  Only the requested
chunks are fetched; reads are grouped by scan.  A reader sees exactly the scans of
one manifest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from genesis_core.io.storage import LocationLike
from genesis_core.store.manifest import Manifest
from genesis_core.store.reader import ManifestView
from genesis_core.target_tasks import TARGET_TASKS
from genesis_core.targets.splits import split_target_scans
from genesis_core.targets.writer import target_digest, target_path


class TargetStore(ManifestView):
    """A read-only view of one manifest of a target store (optionally some scans only)."""

    def __init__(
        self,
        store: LocationLike,
        scan_ids: Sequence[str] | None = None,
        manifest: Manifest | None = None,
        verify: bool = True,
    ) -> None:
        super().__init__(store, scan_ids, manifest, verify)
        self._labels: dict[str, np.ndarray] = {}

    @property
    def task(self) -> str:
        return str(self.manifest.config.get("task", ""))

    @property
    def is_classification(self) -> bool:
        return self.task in TARGET_TASKS and TARGET_TASKS[self.task].classification

    @property
    def window(self) -> tuple[float, float]:
        lo, hi = self.manifest.config.get("window", (-1000.0, 1000.0))
        return float(lo), float(hi)

    @property
    def cube_shape(self) -> tuple[int, int, int]:
        return tuple(self.manifest.config["cube_zyx"])  # type: ignore[return-value]

    def _array(self, scan_id: str, kind: str):
        self._ensure_verified(scan_id)
        return self._open(target_path(scan_id, kind, self._group(scan_id)))

    def _kinds(self) -> tuple[str, ...]:
        return ("images", "labels") if self.is_classification else ("images", "masks")

    def _digest(self, scan_id: str) -> str:
        group = self._group(scan_id)
        return target_digest(
            {k: np.asarray(self._open(target_path(scan_id, k, group))[...]) for k in self._kinds()}
        )

    def _scan_labels(self, scan_id: str) -> np.ndarray:
        if scan_id not in self._labels:
            self._labels[scan_id] = np.asarray(self._array(scan_id, "labels")[...])
        return self._labels[scan_id]

    def _normalise(self, hu: np.ndarray) -> np.ndarray:
        lo, hi = self.window
        return ((np.clip(hu, lo, hi).astype(np.float32) - lo) / (hi - lo)).astype(np.float32)

    def _grouped(self, indices: Sequence[int]) -> dict[str, tuple[list[int], list[int]]]:
        """``{scan_id: (positions in the batch, indices within the scan)}``."""
        by_scan: dict[str, tuple[list[int], list[int]]] = {}
        for pos, i in enumerate(np.asarray(indices, dtype=np.int64).reshape(-1)):
            sid, j = self._locate(int(i))
            by_scan.setdefault(sid, ([], []))[0].append(pos)
            by_scan[sid][1].append(j)
        return by_scan

    def read(self, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Samples at ``indices``: (float32 inputs (n, D, H, W) in [0, 1], float32 targets)."""
        n = len(np.asarray(indices).reshape(-1))
        inputs = np.empty((n, *self.cube_shape), dtype=np.float32)
        shape = (n,) if self.is_classification else (n, *self.cube_shape)
        targets = np.empty(shape, dtype=np.float32)
        for sid, (pos, js) in self._grouped(indices).items():
            inputs[pos] = self._normalise(
                self._array(sid, "images").get_orthogonal_selection((js,))
            )
            if self.is_classification:
                targets[pos] = self._scan_labels(sid)[js]
            else:
                targets[pos] = self._array(sid, "masks").get_orthogonal_selection((js,))
        return inputs, targets

    def labels(self) -> np.ndarray:
        """All class labels in sample order, int8 (N,) (classification stores only)."""
        if not self.is_classification:
            raise ValueError(f"task {self.task!r} has masks, not class labels")
        parts = [self._scan_labels(s) for s in self.scan_ids]
        return np.concatenate(parts).astype(np.int8) if parts else np.empty(0, np.int8)

    def provenance(self, i: int) -> dict[str, Any]:
        """Scan id, cube centre (z, y, x) in the resampled grid, spacing, config hash."""
        scan_id, j = self._locate(i)
        attrs = dict(self._array(scan_id, "images").attrs)
        return {
            "scan_id": scan_id,
            "index_in_scan": j,
            "center_zyx": attrs["centers_zyx"][j],
            "origin_zyx": attrs["origins_zyx"][j],
            "spacing_xyz": attrs.get("spacing_xyz"),
            "config_hash": attrs.get("config_hash"),
            "source_sha256": attrs.get("source_sha256"),
        }

    def subset(self, scan_ids: Sequence[str]) -> TargetStore:
        view = TargetStore(self.location, scan_ids, self.manifest, self.verify)
        view._verified = self._verified  # one record of verified scans per store handle
        return view

    def split(
        self, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    ) -> dict[str, TargetStore]:
        """Train/val/test views that never share a scan (see :mod:`genesis_core.targets.splits`)."""
        subsets = {s: self.manifest.scans[s].subset for s in self.scan_ids}
        return {k: self.subset(v) for k, v in split_target_scans(subsets, fractions).items()}
