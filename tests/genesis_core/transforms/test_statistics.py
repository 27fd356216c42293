"""SPEC §2 statistics of the batched torch corruption, in both modes.

Tolerances are ≥ 4 standard errors of the sample sizes used, yet tight enough that a
wrong rate, box size, box count or overwrite rule fails.
"""

from __future__ import annotations

import pytest
import torch

from genesis_core.transforms import TransformConfig, make_pairs
from genesis_core.transforms.flip import draw_flips
from genesis_core.transforms.intensity import curve_tables, draw_curves
from genesis_core.transforms.plan import draw_plan
from genesis_core.transforms.shuffle import local_shuffle
from tests.genesis_core.transforms.conftest import FULL

MODES = ["faithful", "fixed"]


def gen(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def only(mode: str, **switches: bool) -> TransformConfig:
    """A config with flips off and only the given transformations, always applied."""
    off = dict.fromkeys(
        ("use_nonlinear", "use_local_shuffle", "use_outpaint", "use_inpaint"), False
    )
    return TransformConfig(mode=mode, flip_rate=0.0, paint_rate=1.0, **{**off, **switches})


def fractions(values: torch.Tensor, n: int) -> list[float]:
    return (torch.bincount(values, minlength=n).double() / values.numel()).tolist()


@pytest.mark.parametrize("mode", MODES)
def test_flip_count_distribution(mode: str, device: torch.device) -> None:
    plan = draw_flips(20_000, gen(device, 0), device, TransformConfig(mode=mode))
    assert fractions(plan.counts, 4) == pytest.approx([0.6, 0.24, 0.096, 0.064], abs=0.012)
    assert plan.dims == ((1, 4, 3) if mode == "faithful" else (2, 3, 4))  # faithful: no Z (2)


@pytest.mark.parametrize("mode", MODES)
def test_decision_marginals(mode: str, device: torch.device) -> None:
    """Painting 0.72 / 0.18 / 0.10, in-painting ≈4.3 boxes, P(input == target) ≈ 0.005."""
    config = TransformConfig(mode=mode, shuffle_blocks=0, bezier_table_size=2)
    n = 40_000
    plan = draw_plan((n, 1, 16, 16, 16), gen(device, 1), config, device)
    inpaint, outpaint = plan.paint.inpaint, plan.paint.outpaint
    shares = [float(outpaint.double().mean()), float(inpaint.double().mean())]
    assert shares == pytest.approx([0.72, 0.18], abs=0.01)
    assert float(plan.paint.boxes.active[inpaint].sum(1).double().mean()) == pytest.approx(
        4.30, abs=0.04
    )
    assert float(plan.paint.boxes.active[outpaint].sum(1).double().mean()) == pytest.approx(
        4.52, abs=0.03
    )
    untouched = set(range(n)) - set(plan.shuffled) - set(plan.curved) - set(plan.painted)
    assert len(untouched) / n == pytest.approx(0.005, abs=0.0015)


@pytest.mark.parametrize("mode", MODES)
def test_outpainting_keeps_about_a_third(mode: str, device: torch.device) -> None:
    g = gen(device, 2)
    cubes = torch.rand((128, 1, *FULL), generator=g, device=device)
    x, y = make_pairs(cubes, g, only(mode, use_outpaint=True))
    kept = (x == y).double().mean(dim=(1, 2, 3, 4))
    assert float(kept.mean()) == pytest.approx(0.32, abs=0.02)
    assert float(kept.min()) >= 28 * 28 * 14 / (64 * 64 * 32) and float(kept.max()) < 0.6


@pytest.mark.parametrize("mode", MODES)
def test_inpainting_masks_about_six_percent(mode: str, device: torch.device) -> None:
    g = gen(device, 3)
    cubes = torch.rand((128, 1, *FULL), generator=g, device=device)
    x, y = make_pairs(cubes, g, only(mode, use_inpaint=True))
    masked = (x != y).double().mean(dim=(1, 2, 3, 4))
    assert float(masked.mean()) == pytest.approx(0.056, abs=0.005)
    assert float(masked.max()) <= 5 * 21 * 21 * 10 / (64 * 64 * 32)


@pytest.mark.parametrize("mode", MODES)
def test_shuffling_changes_79_percent_of_noise(mode: str, device: torch.device) -> None:
    g = gen(device, 4)
    cubes = torch.rand((8, 1, *FULL), generator=g, device=device)
    changed = (local_shuffle(cubes, g, TransformConfig(mode=mode)) != cubes).double().mean()
    assert float(changed) == pytest.approx(0.79, abs=0.015)


def test_shuffling_only_moves_values_locally(device: torch.device) -> None:
    """Every output value comes from the same cube, at most one block side away."""
    g = gen(device, 5)
    n = 32 * 64 * 64
    ramp = torch.arange(n, dtype=torch.float64, device=device) / n
    cubes = ramp.view(1, 1, *FULL).repeat(2, 1, 1, 1, 1)
    out = local_shuffle(cubes, g, TransformConfig())
    source = (out * n).round().long().view(2, -1).cpu()
    d, h, w = source // 4096, source // 64 % 64, source % 64
    grid = torch.arange(n).view(1, -1)
    assert int((d - grid // 4096).abs().max()) <= 2
    assert int((h - grid // 64 % 64).abs().max()) <= 5 and int((w - grid % 64).abs().max()) <= 5


def test_bezier_curves_monotone_and_half_inverted(device: torch.device) -> None:
    curves = draw_curves(4000, gen(device, 6), device)
    assert float(curves.inverted.double().mean()) == pytest.approx(0.5, abs=0.03)
    values, _ = curve_tables(curves, 257)
    steps = values.diff(dim=1)
    inv = curves.inverted
    assert bool((steps[inv] <= 1e-12).all()) and bool((steps[~inv] >= -1e-12).all())
    assert torch.equal(values[:, 0], inv.double()) and torch.equal(values[:, -1], (~inv).double())


@pytest.mark.parametrize("mode", MODES)
def test_intensity_map_is_monotone_per_sample(mode: str, device: torch.device) -> None:
    g = gen(device, 7)
    cubes = torch.rand((32, 1, 16, 16, 16), generator=g, device=device)
    x, y = make_pairs(cubes, g, only(mode, use_nonlinear=True))
    order = y.view(32, -1).argsort(dim=1)
    mapped = x.view(32, -1).gather(1, order).diff(dim=1)
    rising, falling = (mapped >= 0).all(dim=1), (mapped <= 0).all(dim=1)
    assert bool((rising | falling).all()) and 0 < int(falling.sum()) < 32


def test_painting_noise_is_uniform_independent_and_seeded(device: torch.device) -> None:
    from genesis_core.transforms.sampling import noise

    values = noise((6, 1, 32, 64, 64), gen(device, 8), device, torch.float32)
    flat = values.double().flatten()
    assert 0.0 < float(flat.min()) and float(flat.max()) < 1.0
    assert float(flat.mean()) == pytest.approx(0.5, abs=2e-3)
    assert float(flat.var()) == pytest.approx(1 / 12, abs=1e-3)
    deciles = torch.histc(flat, bins=10, min=0.0, max=1.0) / flat.numel()
    assert torch.allclose(deciles, torch.full_like(deciles, 0.1), atol=3e-3)
    per_sample = values.view(6, -1)
    assert abs(float(torch.corrcoef(per_sample.double())[0, 1])) < 0.02, "samples independent"
    again = noise((6, 1, 32, 64, 64), gen(device, 8), device, torch.float32)
    assert torch.equal(values, again), "a pure function of the generator state"
