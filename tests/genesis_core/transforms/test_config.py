"""TransformConfig: defaults of the reference, validation once, ablation presets, no pydantic needed."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from genesis_core.transforms import TransformConfig, ablation_switches
from genesis_core.transforms.geometry import (
    check_paintable,
    inpaint_size_range,
    outpaint_size_range,
    shuffle_block_max,
)

ROOT = Path(__file__).resolve().parents[3]


def test_defaults_are_the_reference_rates() -> None:
    c = TransformConfig()
    assert (c.flip_rate, c.local_rate, c.nonlinear_rate, c.paint_rate, c.inpaint_rate) == (
        0.4,
        0.5,
        0.9,
        0.9,
        0.2,
    )
    assert c.mode == "fixed" and c.shuffle_blocks == 10_000 and c.bezier_points == 100_000
    assert c.use_nonlinear and c.use_local_shuffle and c.use_outpaint and c.use_inpaint


@pytest.mark.parametrize(
    "bad",
    [
        {"flip_rate": -0.1},
        {"paint_rate": 1.5},
        {"inpaint_rate": 2},
        {"mode": "sloppy"},
        {"bezier_table_size": 1},
        {"shuffle_blocks": -1},
    ],
)
def test_invalid_values_are_rejected(bad: dict) -> None:
    with pytest.raises(ValueError):
        TransformConfig(**bad)


def test_config_is_frozen() -> None:
    with pytest.raises((TypeError, ValueError, AttributeError)):
        TransformConfig().flip_rate = 0.1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("I&II", (True, True, False, False)),
        ("III&IV", (False, False, True, True)),
        ("all", (True, True, True, True)),
        ("V", (True, True, True, True)),
        ("iv", (False, False, False, True)),
    ],
)
def test_ablation_presets(name: str, expected: tuple[bool, ...]) -> None:
    c = TransformConfig.ablation(name, mode="faithful")
    assert (c.use_nonlinear, c.use_local_shuffle, c.use_outpaint, c.use_inpaint) == expected
    assert c.mode == "faithful"


def test_unknown_ablation_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown ablation"):
        ablation_switches("I&VI")


def test_derived_probabilities_follow_the_switches() -> None:
    assert TransformConfig().inpaint_given_paint == 0.2
    assert TransformConfig.ablation("IV").inpaint_given_paint == 1.0
    assert TransformConfig.ablation("III").inpaint_given_paint == 0.0
    none = TransformConfig.ablation("I&II")
    assert none.paint_probability == 0.0 and none.local_probability == 0.5
    assert TransformConfig.ablation("III&IV").nonlinear_probability == 0.0


def test_size_rules_match_the_spec() -> None:
    assert (shuffle_block_max(64), shuffle_block_max(32), shuffle_block_max(5)) == (6, 3, 1)
    assert inpaint_size_range(64) == (10, 21) and inpaint_size_range(32) == (5, 10)
    assert outpaint_size_range(64) == (28, 37) and outpaint_size_range(32) == (14, 19)
    check_paintable((14, 14, 14))
    with pytest.raises(ValueError, match="too small"):
        check_paintable((13, 64, 64))


def test_one_config_that_needs_no_pydantic() -> None:
    """A bare CUDA image has torch and NumPy only: the one config imports and validates."""
    code = """
import sys, dataclasses
sys.modules["pydantic"] = None
import torch
from genesis_core.transforms import TransformConfig, make_pairs
c = TransformConfig.ablation("I&II", mode="faithful")
assert dataclasses.is_dataclass(c) and c.paint_probability == 0.0
for bad in ({"flip_rate": 2.0}, {"mode": "x"}, {"local_rate": "0.5"}, {"use_inpaint": 1}):
    try:
        TransformConfig(**bad)
    except ValueError:
        pass
    else:
        raise SystemExit("accepted " + repr(bad))
x, y = make_pairs(torch.rand(2, 1, 16, 16, 16), torch.Generator().manual_seed(0), c)
print(sorted(f.name for f in dataclasses.fields(c)))
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    fields = ast.literal_eval(proc.stdout.strip())
    assert fields == sorted(f.name for f in dataclasses.fields(TransformConfig))


def test_round_trip_through_plain_values() -> None:
    c = TransformConfig.ablation("III&IV", mode="faithful", flip_rate=0.1)
    assert TransformConfig.from_dict(c.as_dict()) == c
    with pytest.raises(ValueError, match="unknown transform settings \\['flip'\\]"):
        TransformConfig.from_dict({"flip": 0.2})
