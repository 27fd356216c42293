"""Small cube stores built directly (no ingest/preprocess) for training tests."""

from __future__ import annotations

import numpy as np

from genesis_core.cubes.extract import extract
from genesis_core.store import commit_scans, write_scan
from genesis_core.synth import chest_phantom


def phantom_store(
    uri: str,
    subsets=(0, 1, 2, 3, 5, 6),
    cubes_per_scan: int = 8,
    cube_zyx=(16, 32, 32),
    seed: int = 0,
) -> str:
    """One synthetic chest per subset; random cubes inside the body. LUNA16 split applies."""
    entries = []
    for k, subset in enumerate(subsets):
        rng = np.random.default_rng(seed + k)
        hu, _ = chest_phantom((96, 96, 64), (1.5, 1.5, 2.0), rng)
        hi = np.asarray(hu.shape) - np.asarray(cube_zyx)
        origins = np.stack([rng.integers(0, h + 1, cubes_per_scan) for h in hi], axis=1)
        cubes = extract(hu, origins, cube_zyx)
        sid = f"scan-{k}"
        attrs = {"config_hash": "test", "spacing_xyz": [1.5, 1.5, 2.0]}
        entries.append(write_scan(uri, sid, cubes, origins, attrs).entry(sid, f"sha-{k}", subset))
    commit_scans(uri, entries, {"cube_zyx": list(cube_zyx)}, "test")
    return uri


# the classification store of the gate and calibration tests
from genesis_core.synth.targets import write_ncc_store as ncc_store  # noqa: E402,F401
