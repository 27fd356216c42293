"""TargetConfig: validation, stable hashing, dict round trip."""

from __future__ import annotations

import pytest

from genesis_core.targets import TargetConfig


def test_hash_is_stable_and_sensitive() -> None:
    a = TargetConfig(task="lcs", labels=(1, 2))
    assert a.hash() == TargetConfig(task="lcs", labels=(1, 2)).hash()
    assert a.hash() != TargetConfig(task="lcs", labels=(1,)).hash()
    assert a.hash() != TargetConfig(task="lcs", labels=(1, 2), spacing_xyz=None).hash()


def test_round_trip_through_dict() -> None:
    a = TargetConfig(task="ncc", spacing_xyz=None, cube_xyz=(48, 48, 24), max_negatives=5)
    d = a.to_dict()
    assert d["cube_zyx"] == [24, 48, 48]
    b = TargetConfig.from_dict(d)
    assert b == a and b.hash() == a.hash()
    assert a.is_classification and not TargetConfig(task="ncs").is_classification


@pytest.mark.parametrize(
    "kw",
    [
        {"task": "bms"},
        {"foreground_ratio": 1.5},
        {"cube_xyz": (64, 0, 32)},
        {"n": -1},
        {"window": (100.0, -100.0)},
    ],
)
def test_invalid_configs_are_rejected(kw) -> None:
    with pytest.raises(ValueError):
        TargetConfig(**kw)
