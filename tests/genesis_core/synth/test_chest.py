"""The chest phantom looks like chest CT: air, body, lungs near −850 HU, bone, nodules."""

from __future__ import annotations

import numpy as np
import pytest

from genesis_core.synth import chest_phantom
from genesis_core.synth.chest import make_chest
from genesis_core.synth.tissue import Tissue

SIZE, SPACING = (96, 96, 48), (0.7, 0.7, 1.5)


@pytest.fixture(scope="module")
def phantom():
    return make_chest(SIZE, SPACING, np.random.default_rng(0), nodules=3)


def test_layout_is_zyx_int16(phantom) -> None:
    assert phantom.hu.shape == phantom.tissue.shape == (48, 96, 96)
    assert phantom.hu.dtype == np.int16 and phantom.tissue.dtype == np.uint8


def test_air_outside_the_body(phantom) -> None:
    corners = phantom.hu[:, :8, :8]
    assert np.median(corners) < -950 and (phantom.tissue[:, :8, :8] == Tissue.AIR).all()
    body = phantom.tissue != Tissue.AIR
    assert 0.25 < body.mean() < 0.7


def test_two_lungs_around_minus_850(phantom) -> None:
    lung = phantom.tissue == Tissue.LUNG
    assert -950 < np.median(phantom.hu[lung]) < -750
    assert 15 < phantom.hu[lung].std() < 25  # Gaussian noise σ≈20
    assert lung[:, :, :48].sum() > 1000 and lung[:, :, 48:].sum() > 1000


def test_bone_and_soft_tissue(phantom) -> None:
    assert (phantom.hu > 500).sum() > 100
    soft = phantom.tissue == Tissue.SOFT
    assert 20 < np.median(phantom.hu[soft]) < 60
    assert -150 < np.median(phantom.hu[phantom.tissue == Tissue.FAT]) < -50


def test_vessels_in_the_lungs(phantom) -> None:
    lungs = np.isin(phantom.tissue, (Tissue.LUNG, Tissue.VESSEL))
    fraction = (phantom.tissue == Tissue.VESSEL)[lungs].mean()
    assert 0.002 < fraction < 0.2


def test_nodules_are_dense_spheres_in_the_lungs(phantom) -> None:
    assert len(phantom.nodules) == 3
    for (x, y, z), diameter in phantom.nodules:
        assert 3.0 <= diameter <= 30.0
        assert phantom.hu[z, y, x] > -200 and phantom.tissue[z, y, x] == Tissue.NODULE
        r = int(np.ceil(diameter / 2 / min(SPACING))) + 3
        around = phantom.tissue[max(z - r, 0) : z + r, max(y - r, 0) : y + r, max(x - r, 0) : x + r]
        assert (around == Tissue.LUNG).sum() > 20


def test_explicit_diameters_and_public_signature() -> None:
    hu, nodules = chest_phantom(SIZE, SPACING, np.random.default_rng(1), nodules=[4.0, 6.0])
    assert hu.dtype == np.int16 and hu.shape == (48, 96, 96)
    assert [d for _, d in nodules] == [4.0, 6.0]
    (x, y, z), _ = nodules[0]
    assert all(isinstance(v, int) for v in (x, y, z))


def test_deterministic_in_the_generator() -> None:
    a, na = chest_phantom(SIZE, SPACING, np.random.default_rng(7))
    b, nb = chest_phantom(SIZE, SPACING, np.random.default_rng(7))
    c, _ = chest_phantom(SIZE, SPACING, np.random.default_rng(8))
    assert np.array_equal(a, b) and na == nb
    assert not np.array_equal(a, c)
