"""A classification target store written directly (no ingest, no candidate table): for
the transfer gate's tests and the evaluation's calibration, where the task must be
learnable and cheap and its split must follow the LUNA16 subsets."""

from __future__ import annotations

import numpy as np

from genesis_core.cubes.extract import extract
from genesis_core.synth.chest import chest_phantom


def write_ncc_store(
    uri: str,
    scans: int = 20,
    per_scan: int = 24,
    cube_zyx=(16, 32, 32),
    seed: int = 0,
    positive_fraction: float = 0.4,
    contrast=(600, 900),
    radius=(3, 5),
) -> str:
    """A classification target store built directly: cubes of synthetic chests, positives
    with a nodule-like sphere (``radius`` voxels, ``contrast`` HU above its surroundings, so it
    shows in lung and soft tissue alike) at a jittered centre.
    Scans spread over LUNA16 subsets 0–9, so train/validation/test follow the LUNA split."""
    from genesis_core.targets import TargetConfig, commit_targets  # noqa: I001 (lazy: no cycle)
    from genesis_core.targets.arrays import Grid, TargetArrays
    from genesis_core.targets.writer import write_target_scan

    cfg = TargetConfig(task="ncc", cube_xyz=tuple(reversed(cube_zyx)), seed=seed)
    d, h, w = cube_zyx
    zz, yy, xx = np.mgrid[:d, :h, :w]
    results = []
    for k in range(scans):
        rng = np.random.default_rng(seed * 1000 + k)
        hu, _ = chest_phantom((80, 80, 48), (1.5, 1.5, 2.0), rng, nodules=0)
        hi = np.asarray(hu.shape) - np.asarray(cube_zyx)
        origins = np.stack([rng.integers(0, s + 1, per_scan) for s in hi], axis=1)
        cubes = extract(hu, origins, cube_zyx).astype(np.int16)
        labels = (rng.random(per_scan) < positive_fraction).astype(np.int8)
        for i in np.flatnonzero(labels):
            c = np.asarray(cube_zyx) / 2 + rng.uniform(-2, 2, 3)
            r = rng.uniform(*radius)
            ball = (zz - c[0]) ** 2 + ((yy - c[1]) ** 2 + (xx - c[2]) ** 2) < r * r
            cubes[i][ball] = np.clip(cubes[i][ball] + rng.integers(*contrast), -1000, 1000)
        grid = Grid((1.5, 1.5, 2.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1), hu.shape)
        arrays = TargetArrays(cubes, origins, grid, labels=labels)
        sid = f"scan-{k:03d}"
        attrs = {**arrays.attrs(cube_zyx), "task": "ncc", "config_hash": cfg.hash()}
        written = write_target_scan(uri, sid, arrays, attrs)
        results.append(
            {
                "status": "ok",
                "scan_id": sid,
                "n_cubes": written.n,
                "path": written.path,
                "checksum": written.checksum,
                "subset": k % 10,
                "source_sha256": f"sha-{k}",
            }
        )
    commit_targets(uri, results, cfg)
    return uri
