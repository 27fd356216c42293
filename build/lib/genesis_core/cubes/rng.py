"""Per-scan random generators: the same (seed, scan) gives the same stream anywhere.

The generator depends only on the integer ``seed`` and the scan id, never on the
worker, the process, the order scans are processed in, or Python's hash
randomisation, so a scan's cubes are reproducible on any Dask worker.
"""

from __future__ import annotations

import hashlib

import numpy as np


def scan_entropy(seed: int, scan_id: str) -> list[int]:
    """Entropy words for :class:`numpy.random.SeedSequence`: the seed, then sha256(scan_id)."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    digest = hashlib.sha256(scan_id.encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, len(digest), 4)]
    return [int(seed), *words]


def rng_for(seed: int, scan_id: str) -> np.random.Generator:
    """A fresh PCG64 generator for ``scan_id`` under the run ``seed``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(scan_entropy(seed, scan_id))))
