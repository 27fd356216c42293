"""The Corruption protocol: seeded outputs unchanged by it, and open to a new corruption."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor

from genesis_core.transforms import TransformConfig, make_pairs
from genesis_core.transforms.corruption import check_order, chosen, on_rows
from genesis_core.transforms.plan import PIPELINE, draw_plan

CONFIGS = {
    "fixed": TransformConfig(),
    "faithful": TransformConfig(mode="faithful"),
    "I&II": TransformConfig.ablation("I&II"),
    "III&IV": TransformConfig.ablation("III&IV", mode="faithful"),
}
# SHA-256 prefixes of (inputs, targets) made by make_pairs before the corruptions became
# Corruption objects (commit fa5ea60, CPU): the refactor changed no value, on either path.
BEFORE = {
    "fixed/c1/s0/kNone": "4ff1dc5fd198c67e:7b8eb1e9ad9d38de",
    "fixed/c1/s0/k4": "4ff1dc5fd198c67e:7b8eb1e9ad9d38de",
    "fixed/c1/s1/kNone": "5cecb004af3ad4ef:a282378cef53ce74",
    "fixed/c1/s1/k4": "5cecb004af3ad4ef:a282378cef53ce74",
    "fixed/c2/s0/kNone": "b4fa59ac32531dcd:d5d137133c552964",
    "fixed/c2/s0/k4": "b4fa59ac32531dcd:d5d137133c552964",
    "fixed/c2/s1/kNone": "7272c1f9dd3f907e:a25af5010d8175ac",
    "fixed/c2/s1/k4": "7272c1f9dd3f907e:a25af5010d8175ac",
    "faithful/c1/s0/kNone": "b857de5d15901e8c:a01b3f3e9940ab41",
    "faithful/c1/s0/k4": "b857de5d15901e8c:a01b3f3e9940ab41",
    "faithful/c1/s1/kNone": "9e3afceadc38bb3b:a730395d02c97f1a",
    "faithful/c1/s1/k4": "9e3afceadc38bb3b:a730395d02c97f1a",
    "faithful/c2/s0/kNone": "107b86f79f97d12e:e1caec173f50a224",
    "faithful/c2/s0/k4": "107b86f79f97d12e:e1caec173f50a224",
    "faithful/c2/s1/kNone": "99366dab0ee699b9:8981b104579ce801",
    "faithful/c2/s1/k4": "99366dab0ee699b9:8981b104579ce801",
    "I&II/c1/s0/kNone": "ac59c0f9852b079e:7b8eb1e9ad9d38de",
    "I&II/c1/s0/k4": "ac59c0f9852b079e:7b8eb1e9ad9d38de",
    "I&II/c1/s1/kNone": "acb82db89137b46c:a282378cef53ce74",
    "I&II/c1/s1/k4": "acb82db89137b46c:a282378cef53ce74",
    "I&II/c2/s0/kNone": "e33bf7800d8e4905:d5d137133c552964",
    "I&II/c2/s0/k4": "e33bf7800d8e4905:d5d137133c552964",
    "I&II/c2/s1/kNone": "30d897b000d5233c:a25af5010d8175ac",
    "I&II/c2/s1/k4": "30d897b000d5233c:a25af5010d8175ac",
    "III&IV/c1/s0/kNone": "483ccc9b86e582f0:a01b3f3e9940ab41",
    "III&IV/c1/s0/k4": "483ccc9b86e582f0:a01b3f3e9940ab41",
    "III&IV/c1/s1/kNone": "6981b648d6fb0aea:a730395d02c97f1a",
    "III&IV/c1/s1/k4": "6981b648d6fb0aea:a730395d02c97f1a",
    "III&IV/c2/s0/kNone": "47d74b35052a635c:e1caec173f50a224",
    "III&IV/c2/s0/k4": "47d74b35052a635c:e1caec173f50a224",
    "III&IV/c2/s1/kNone": "562830649b385051:8981b104579ce801",
    "III&IV/c2/s1/k4": "562830649b385051:8981b104579ce801",
}


def _digest(t: Tensor) -> str:
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()[:16]


@pytest.mark.parametrize("key", sorted(BEFORE))
def test_seeded_outputs_are_bit_identical_to_before(key: str) -> None:
    name, c, s, k = key.split("/")
    channels, seed = int(c[1:]), int(s[1:])
    chunk = None if k == "kNone" else int(k[1:])
    cubes = torch.rand(
        (6, channels, 16, 32, 32), generator=torch.Generator().manual_seed(100 + seed)
    )
    x, y = make_pairs(cubes, torch.Generator().manual_seed(seed), CONFIGS[name], chunk)
    assert f"{_digest(x)}:{_digest(y)}" == BEFORE[key]


@dataclass(frozen=True)
class _Part:
    samples: list[int]


class Invert:
    """A fifth corruption written only against the protocol: x → 1 − x for gated samples."""

    name = "invert"
    gates = 0  # draws its own gate, so the existing draws stay where they were
    on_target = False

    def draw(self, gates, batch, generator, config):
        u = torch.rand(batch.n, generator=generator, device=batch.device)
        return _Part(chosen(u, 0.5))

    def prepare(self, part, config, per_cube):
        return set(part.samples)

    def apply_batch(self, x, out, first, part, prepared, generator, config):
        return on_rows(x, part.samples, first, lambda sub, r: 1 - sub)

    def apply_cube(self, i, x, out, part, prepared, config):
        if i not in prepared:
            return x
        torch.sub(1, x, out=out)
        return out


def test_a_new_corruption_plugs_in_without_touching_the_pipeline() -> None:
    steps = (*PIPELINE, Invert())
    cubes = torch.rand((8, 1, 16, 32, 32), generator=torch.Generator().manual_seed(5))
    cfg = TransformConfig()
    base_x, base_y = make_pairs(cubes, torch.Generator().manual_seed(3), cfg)
    x, y = make_pairs(cubes, torch.Generator().manual_seed(3), cfg, steps=steps)
    xc, yc = make_pairs(cubes, torch.Generator().manual_seed(3), cfg, chunk_size=3, steps=steps)
    assert torch.equal(y, base_y), "targets are untouched by an input-only corruption"
    assert torch.equal(x, xc), "the per-cube and the batched paths agree"
    plan = draw_plan(cubes.shape, torch.Generator().manual_seed(3), cfg, cubes.device, steps=steps)
    inverted = plan.part("invert").samples
    assert 0 < len(inverted) < 8
    for i in range(8):
        expected = 1 - base_x[i] if i in inverted else base_x[i]
        assert torch.allclose(x[i], expected), i


def test_target_corruptions_must_come_first() -> None:
    with pytest.raises(ValueError, match="target corruptions must come first"):
        check_order((PIPELINE[1], PIPELINE[0]))
