"""Batched torch corruption (`make_pairs`): invariants, determinism, per-sample decisions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genesis_core.transforms import TransformConfig, make_pairs, make_validation_pairs
from genesis_core.transforms.intensity import nonlinear_intensity
from genesis_core.transforms.painting import in_painting
from genesis_core.transforms.plan import draw_plan
from genesis_core.transforms.shuffle import local_shuffle
from tests.genesis_core.transforms.conftest import FULL, SMALL, matching_flip, ramp

MODES = ["faithful", "fixed"]
ALLOWED = {"faithful": (0, 2, 3), "fixed": (1, 2, 3)}  # sample axes (C, D, H, W)


def batch_of(cube: np.ndarray, n: int) -> torch.Tensor:
    return torch.from_numpy(cube).expand(n, *cube.shape).contiguous()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_shapes_dtype_range_and_input_untouched(mode: str, dtype: torch.dtype) -> None:
    cubes = torch.rand((8, 1, *FULL), generator=torch.Generator().manual_seed(0)).to(dtype)
    before = cubes.clone()
    x, y = make_pairs(cubes, torch.Generator().manual_seed(1), TransformConfig(mode=mode))
    assert x.shape == y.shape == cubes.shape and x.dtype == y.dtype == dtype
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert torch.equal(cubes, before)
    assert x.data_ptr() != cubes.data_ptr() and y.data_ptr() != cubes.data_ptr()


@pytest.mark.parametrize("mode", MODES)
def test_targets_are_flips_and_faithful_never_flips_z(mode: str) -> None:
    cube = ramp((1, *SMALL))
    x, y = make_pairs(
        batch_of(cube, 64), torch.Generator().manual_seed(2), TransformConfig(mode=mode)
    )
    seen = set()
    for target in y.numpy():
        combo = matching_flip(target, cube, ALLOWED[mode])
        assert combo is not None
        seen.update(combo)
    assert 1 in seen if mode == "fixed" else 1 not in seen


def test_same_seed_same_pairs_different_seed_different() -> None:
    cubes = torch.rand((6, 1, *SMALL), generator=torch.Generator().manual_seed(3))
    config = TransformConfig(shuffle_blocks=300)
    a = make_pairs(cubes, torch.Generator().manual_seed(5), config)
    b = make_pairs(cubes, torch.Generator().manual_seed(5), config)
    c = make_pairs(cubes, torch.Generator().manual_seed(6), config)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_validation_pairs_are_fixed_by_the_seed() -> None:
    cubes = torch.rand((4, 1, *SMALL), generator=torch.Generator().manual_seed(4))
    a = make_validation_pairs(cubes, seed=11)
    b = make_validation_pairs(cubes, seed=11)
    c = make_validation_pairs(cubes, seed=12)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and not torch.equal(a[0], c[0])


def test_decisions_vary_across_the_batch() -> None:
    plan = draw_plan(
        (64, 1, *SMALL), torch.Generator().manual_seed(7), TransformConfig(), torch.device("cpu")
    )
    assert 0 < len(plan.shuffled) < 64 and 0 < len(plan.curved) < 64
    assert 0 < int(plan.paint.inpaint.sum()) and 0 < int(plan.paint.outpaint.sum())
    assert not bool((plan.paint.inpaint & plan.paint.outpaint).any())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("channels", "dtype"), [(1, torch.float32), (2, torch.float64)])
def test_cube_by_cube_cpu_path_equals_the_chunked_path(
    mode: str, channels: int, dtype: torch.dtype
) -> None:
    """The CPU default (cube by cube, in place) and the GPU code (chunks) give the same pairs,
    whatever the chunk size: the plan and the noise streams fix every value."""
    cubes = torch.rand((16, channels, *SMALL), generator=torch.Generator().manual_seed(8))
    cubes = cubes.to(dtype)
    config = TransformConfig(mode=mode, shuffle_blocks=200)
    default = make_pairs(cubes, torch.Generator().manual_seed(9), config)
    for chunk in (16, 5):
        chunked = make_pairs(cubes, torch.Generator().manual_seed(9), config, chunk_size=chunk)
        assert torch.equal(default[1], chunked[1])
        assert torch.equal(default[0], chunked[0])
    plan = draw_plan(cubes.shape, torch.Generator().manual_seed(9), config, cubes.device)
    assert plan.shuffled and plan.curved and plan.painted, "every path was exercised"
    assert bool(plan.paint.inpaint.any()) and bool(plan.paint.outpaint.any())


@pytest.mark.parametrize(
    ("ablation", "planned"),
    [
        ("I&II", {"shuffled", "curved"}),
        ("III&IV", {"painted"}),
        ("all", {"shuffled", "curved", "painted"}),
    ],
)
def test_ablations_enable_only_their_transformations(ablation: str, planned: set[str]) -> None:
    config = TransformConfig.ablation(ablation, shuffle_blocks=10)
    plan = draw_plan(
        (200, 1, *SMALL), torch.Generator().manual_seed(10), config, torch.device("cpu")
    )
    nonempty = {name for name in ("shuffled", "curved", "painted") if getattr(plan, name)}
    assert nonempty == planned


@pytest.mark.parametrize("mode", MODES)
def test_multichannel_quirks(mode: str) -> None:
    """Faithful: shuffle touches channel 0 only, one curve and one in-paint noise for all
    channels.  Fixed: every channel shuffled alike, its own curve and noise."""
    g, config = torch.Generator().manual_seed(12), TransformConfig(mode=mode)
    two = torch.rand((3, 1, *SMALL), generator=g).expand(3, 2, *SMALL).contiguous()
    shuffled, curved = local_shuffle(two, g, config), nonlinear_intensity(two, g, config)
    painted = in_painting(two, g, config)
    faithful = mode == "faithful"
    assert torch.equal(shuffled[:, 1], two[:, 1]) == faithful
    assert torch.equal(shuffled[:, 0], shuffled[:, 1]) == (not faithful)
    assert torch.equal(curved[:, 0], curved[:, 1]) == faithful
    assert torch.equal(painted[:, 0], painted[:, 1]) == faithful


def test_bad_inputs_are_rejected() -> None:
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="expected float"):
        make_pairs(torch.zeros((2, 16, 16, 16)), g)
    with pytest.raises(ValueError, match="too small"):
        make_pairs(torch.zeros((2, 1, 8, 32, 32)), g)
    make_pairs(torch.zeros((2, 1, 8, 32, 32)), g, TransformConfig.ablation("I&II"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("mode", MODES)
def test_runs_on_the_gpu(mode: str) -> None:
    cube = ramp((1, *FULL))
    cubes = batch_of(cube, 256).cuda()
    x, y = make_pairs(
        cubes, torch.Generator(device="cuda").manual_seed(0), TransformConfig(mode=mode)
    )
    assert x.is_cuda and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert all(matching_flip(t, cube, ALLOWED[mode]) is not None for t in y[:32].cpu().numpy())
    kept = (x == y).float().mean(dim=(1, 2, 3, 4))
    assert 0.0 < float(kept.mean()) < 1.0
