"""The abdomen phantom: body, spine, a liver (label 1) with lesions (label 2)."""

from __future__ import annotations

import numpy as np
import pytest

from genesis_core.synth import abdomen_phantom
from genesis_core.synth.abdomen import make_abdomen
from genesis_core.synth.tissue import Tissue

SIZE, SPACING = (96, 96, 40), (0.8, 0.8, 2.0)


@pytest.fixture(scope="module")
def phantom():
    return make_abdomen(SIZE, SPACING, np.random.default_rng(0), lesions=2)


def test_layout_and_label_values(phantom) -> None:
    assert phantom.hu.shape == phantom.label.shape == (40, 96, 96)
    assert phantom.hu.dtype == np.int16 and phantom.label.dtype == np.uint8
    assert set(np.unique(phantom.label).tolist()) == {0, 1, 2}


def test_liver_near_60_hu_and_lesions_hypodense(phantom) -> None:
    liver = phantom.hu[phantom.label == 1]
    lesion = phantom.hu[phantom.label == 2]
    assert abs(liver.mean() - 60) < 5
    assert lesion.mean() < liver.mean() - 20
    assert (phantom.label == 1).mean() > 0.03


def test_liver_on_the_patients_right(phantom) -> None:
    _, _, x = np.nonzero(phantom.label == 1)
    assert x.mean() < SIZE[0] / 2  # +X is the patient's left (LPS)


def test_lesions_inside_the_liver(phantom) -> None:
    assert len(phantom.lesions) == 2
    for (x, y, z), _ in phantom.lesions:
        assert phantom.label[z, y, x] == 2
    lesion = phantom.tissue == Tissue.LESION
    assert np.array_equal(lesion, phantom.label == 2)


def test_air_outside_and_bone_inside(phantom) -> None:
    assert np.median(phantom.hu[:, :6, :6]) < -950
    assert (phantom.hu > 500).sum() > 50
    assert (phantom.label[:, :6, :6] == 0).all()


def test_deterministic_in_the_generator() -> None:
    a = abdomen_phantom(SIZE, SPACING, np.random.default_rng(3))
    b = abdomen_phantom(SIZE, SPACING, np.random.default_rng(3))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
