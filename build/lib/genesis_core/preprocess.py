"""Preprocessing, one scan at a time: read → resample → window → pick cubes → write.

:func:`preprocess_scan` is a plain function (no orchestration) so Dask workers
run it directly; it returns a small dict and never raises for a bad scan.
Cubes are stored as int16 HU; the unit range used for the acceptance test and
for normalisation on read is stored with each scan (``unit_range``).
"""

from __future__ import annotations

import hashlib
import json
import resource
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genesis_core.cubes.acceptance import AcceptanceConfig
from genesis_core.cubes.extract import extract
from genesis_core.cubes.rng import rng_for
from genesis_core.cubes.sampling import SamplingConfig, sample_cubes
from genesis_core.faults import is_transient
from genesis_core.intensity import IntensityConfig
from genesis_core.io.readers import read_catalogued
from genesis_core.io.storage import Location, LocationLike
from genesis_core.resample import resample
from genesis_core.store.writer import write_scan
from genesis_core.volume import Volume


@dataclass(frozen=True)
class PreprocessConfig:
    """Everything that decides a scan's cubes; its hash keys the store.

    ``spacing_xyz`` None means native spacing (the paper's setting).
    """

    spacing_xyz: tuple[float, float, float] | None = (1.0, 1.0, 1.0)
    interpolation: str = "linear"
    intensity: IntensityConfig = field(default_factory=IntensityConfig)
    sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(border_xyz="auto"))
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cube_zyx"] = list(self.sampling.cube_zyx)
        return d

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PreprocessConfig:
        s = dict(d["sampling"])
        s["acceptance"] = AcceptanceConfig(**s["acceptance"])
        for k in ("cube_xyz", "border_xyz"):
            if isinstance(s.get(k), list):
                s[k] = tuple(s[k])
        sp = d.get("spacing_xyz")
        return cls(
            spacing_xyz=tuple(sp) if sp else None,
            interpolation=d.get("interpolation", "linear"),
            intensity=IntensityConfig(**d["intensity"]),
            sampling=SamplingConfig(**s),
            seed=int(d.get("seed", 0)),
        )


def unit_range(vol: Volume, spec: IntensityConfig) -> tuple[float, float]:
    """The (lo, hi) that map this volume to [0, 1]: the HU window, or per-volume statistics."""
    if spec.mode == "window":
        return (spec.hu_lo, spec.hu_hi)
    if spec.mode == "minmax":
        return (float(vol.array.min()), float(vol.array.max()))
    lo, hi = np.percentile(vol.array, [spec.pct_lo, spec.pct_hi])
    return (float(lo), float(hi))


def cubes_from_volume(
    vol: Volume, scan_id: str, config: PreprocessConfig
) -> tuple[Volume, np.ndarray, np.ndarray, tuple[float, float], str | None]:
    """Arrays in, arrays out: resampled volume, int16 cubes (k, D, H, W), origins, range, reason."""
    res = resample(vol, config.spacing_xyz, config.interpolation)  # type: ignore[arg-type]
    arr = (
        res.array
        if res.array.dtype == np.int16
        else np.clip(res.array, -32768, 32767).astype(np.int16)
    )
    rng_lohi = unit_range(res, config.intensity)
    sample = sample_cubes(arr, rng_for(config.seed, scan_id), config.sampling, hu_window=rng_lohi)
    cubes = extract(arr, sample.origins_zyx, config.sampling.cube_zyx)
    return res, cubes, sample.origins_zyx, rng_lohi, sample.reason


def preprocess_scan(
    row: Mapping[str, Any],
    config: PreprocessConfig,
    store: LocationLike,
    cache_dir: str,
    generation: str | None = None,
) -> dict[str, Any]:
    """Read one catalogued scan, write its cubes to the store (uncommitted); report.

    The scan's source is reached with the store's options (one endpoint per run).

    The cubes go to a new generation of the scan (``generation``: the run's, so a retried
    task overwrites only its own uncommitted attempt); the report carries its ``path``
    and ``checksum`` for the manifest.
    """
    t0 = time.perf_counter()
    scan_id = row["scan_id"]
    out: dict[str, Any] = {
        "scan_id": scan_id,
        "subset": row.get("subset"),
        "n_cubes": 0,
        "source_sha256": row.get("sha256") or "",
        "status": "ok",
        "reason": "",
    }
    try:
        source = Location.of(store).at(row["source_uri"])
        vol = read_catalogued(source, row["format"], Path(cache_dir), row.get("sha256"))
        res, cubes, origins, lohi, reason = cubes_from_volume(vol, scan_id, config)
        del vol
        attrs = {
            "spacing_xyz": list(res.spacing),
            "origin_xyz": list(res.origin),
            "direction": list(res.direction),
            "source_sha256": out["source_sha256"],
            "config_hash": config.hash(),
            "unit_range": list(lohi),
        }
        written = write_scan(store, scan_id, cubes, origins, attrs, generation)
        out.update(n_cubes=written.n, path=written.path, checksum=written.checksum)
        out["reason"] = reason or ""
        if not out["n_cubes"]:
            out["status"] = "empty"
    except Exception as e:  # noqa: BLE001 - bad data is recorded, never fatal
        if is_transient(e):
            raise  # an I/O fault: retried by Dask, then it fails the run; never a quarantine
        out.update(
            status="failed", reason=f"{scan_id} ({row['source_uri']}): {type(e).__name__}: {e}"
        )
    out["seconds"] = round(time.perf_counter() - t0, 3)
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def peak_rss_mb() -> float:
    """This process's own peak resident memory (``VmHWM``).

    ``ru_maxrss`` is not used: Linux copies a forking parent's peak into the
    child's, so a worker forked from a big process would report the parent's.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
