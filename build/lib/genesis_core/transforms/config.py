"""`TransformConfig`: the rates and switches of the Models Genesis corruptions (SPEC §2).

One object drives both implementations (the NumPy reference and the batched torch one):
a frozen dataclass, validated once at construction, so ``genesis_core.transforms``
imports on a bare CUDA image that has only torch and NumPy.  It crosses process and
flow boundaries as :meth:`TransformConfig.as_dict` / :meth:`TransformConfig.from_dict`.

Ablation groups of the paper (SPEC §5): I non-linear intensity, II local shuffling,
III out-painting, IV in-painting; V = all.  Flipping is not part of the ablation: set
``flip_rate=0`` to disable it.  Painting happens with ``paint_rate``; when both kinds are
enabled it is in-painting with ``inpaint_rate`` else out-painting, as in the reference;
when one kind is enabled every painting is of that kind.

``mode="faithful"`` reproduces the reference including its quirks (flip axis drawn from
channel/X/Y, so Z is never flipped; shuffling touches channel 0 only; one intensity curve
and one in-painting noise field shared by all channels).  ``mode="fixed"`` flips over
Z, Y and X and treats every channel (its own curve and noise, shuffled like channel 0).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

Mode = Literal["faithful", "fixed"]
MODES: tuple[str, ...] = ("faithful", "fixed")
GROUPS: dict[str, str] = {
    "I": "use_nonlinear",
    "II": "use_local_shuffle",
    "III": "use_outpaint",
    "IV": "use_inpaint",
}
_RATES = ("flip_rate", "local_rate", "nonlinear_rate", "paint_rate", "inpaint_rate")
_MINIMUM_COUNTS = {"bezier_points": 2, "bezier_table_size": 2, "shuffle_blocks": 0}


def ablation_switches(name: str) -> dict[str, bool]:
    """``"I&II"`` → the four ``use_*`` switches; ``"all"`` and ``"V"`` enable everything."""
    if name.strip().lower() in ("all", "v"):
        return dict.fromkeys(GROUPS.values(), True)
    parts = [p.strip().upper() for p in name.split("&")]
    unknown = [p for p in parts if p not in GROUPS]
    if unknown or not parts:
        raise ValueError(f"unknown ablation {name!r}: use groups {sorted(GROUPS)} joined by '&'")
    return {flag: group in parts for group, flag in GROUPS.items()}


@dataclass(frozen=True)
class TransformConfig:
    """Corruption rates and switches; see the module docstring."""

    flip_rate: float = 0.4
    local_rate: float = 0.5
    nonlinear_rate: float = 0.9
    paint_rate: float = 0.9
    inpaint_rate: float = 0.2
    mode: Mode = "fixed"
    use_nonlinear: bool = True
    use_local_shuffle: bool = True
    use_outpaint: bool = True
    use_inpaint: bool = True
    # The reference samples its Bézier curve at 100 000 points (NumPy reference only).
    bezier_points: int = 100_000
    # Torch maps intensities through a table of this many knots on [0, 1]; 2048 stay
    # within 1e-5 of the 100 000-point map for 99.9 % of values (see .intensity).
    bezier_table_size: int = 2048
    shuffle_blocks: int = 10_000  # shuffling blocks per cube, as the reference

    def __post_init__(self) -> None:
        for name in _RATES:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        for name, minimum in _MINIMUM_COUNTS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
            if value < minimum:
                raise ValueError(f"{name} must be at least {minimum}, got {value}")
        for flag in GROUPS.values():
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag} must be true or false, got {getattr(self, flag)!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")

    @classmethod
    def ablation(cls, name: str, **overrides: Any) -> TransformConfig:
        """A config enabling the ablation group(s) ``name`` ("I&II", "III&IV", "all", ...)."""
        return cls(**{**ablation_switches(name), **overrides})

    def as_dict(self) -> dict[str, Any]:
        """Plain values (JSON, MLflow params, flow parameters)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TransformConfig:
        """The inverse of :meth:`as_dict`; an unknown key is an error naming it."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown transform settings {unknown}; known: {sorted(known)}")
        return cls(**values)

    @property
    def local_probability(self) -> float:
        """P(local shuffling) per sample, 0 when the group is disabled."""
        return self.local_rate if self.use_local_shuffle else 0.0

    @property
    def nonlinear_probability(self) -> float:
        """P(non-linear intensity) per sample, 0 when the group is disabled."""
        return self.nonlinear_rate if self.use_nonlinear else 0.0

    @property
    def paint_probability(self) -> float:
        """P(some painting) per sample."""
        return self.paint_rate if (self.use_inpaint or self.use_outpaint) else 0.0

    @property
    def inpaint_given_paint(self) -> float:
        """P(in-painting | painting): the reference's rate when both kinds are enabled."""
        if self.use_inpaint and self.use_outpaint:
            return self.inpaint_rate
        return 1.0 if self.use_inpaint else 0.0
