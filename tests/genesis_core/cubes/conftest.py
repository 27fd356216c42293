"""Small synthetic chest-like scans for the cube tests (no dependency on genesis_core.synth)."""

from __future__ import annotations

import numpy as np
import pytest

TISSUE_HU = 40
LUNG_HU = -850
AIR_HU = -1000


def chest_hu(shape_zyx: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """int16 HU (Z, Y, X): air, a soft-tissue body ellipse, two lung ellipsoids, vessels."""
    z, y, x = (np.arange(n, dtype=np.float32) for n in shape_zyx)
    nz, ny, nx = shape_zyx
    zz, yy, xx = z[:, None, None], y[None, :, None], x[None, None, :]
    body = ((yy - ny / 2) / (0.45 * ny)) ** 2 + ((xx - nx / 2) / (0.48 * nx)) ** 2 <= 1.0
    vol = np.where(body, TISSUE_HU, AIR_HU).astype(np.int16)
    vol = np.broadcast_to(vol, shape_zyx).copy()
    for cx in (0.3 * nx, 0.7 * nx):
        lung = (
            ((zz - nz / 2) / (0.42 * nz)) ** 2
            + ((yy - ny / 2) / (0.36 * ny)) ** 2
            + ((xx - cx) / (0.18 * nx)) ** 2
        ) <= 1.0
        vol[lung] = LUNG_HU
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 20.0, size=shape_zyx).astype(np.int16)
    vessels = rng.random(shape_zyx) < 0.01
    vol[vessels & (vol == LUNG_HU)] = TISSUE_HU
    return vol + noise


@pytest.fixture(scope="session")
def chest_small() -> np.ndarray:
    """(80, 160, 160) int16 HU."""
    return chest_hu((80, 160, 160))


@pytest.fixture(scope="session")
def chest_medium() -> np.ndarray:
    """(100, 256, 256) int16 HU: lungs wide enough for 64×64×32 cubes."""
    return chest_hu((100, 256, 256), seed=1)
