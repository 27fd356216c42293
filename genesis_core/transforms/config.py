"""`TransformConfig`: the rates and switches of the Models Genesis corruptions (SPEC §2).

One object drives both implementations (the NumPy reference and the batched torch one).
It is a frozen pydantic v2 ``BaseModel`` when pydantic is importable (flow parameters,
forms in the Prefect UI) and otherwise a frozen dataclass with the same fields, defaults
and validation, so ``genesis_core.transforms`` imports on a bare CUDA image that has only
torch and NumPy.  Validation happens once, at construction.

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

from typing import TYPE_CHECKING, Any, Literal

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


class _ConfigLogic:
    """Validation and derived quantities shared by both class variants (no fields here)."""

    if TYPE_CHECKING:  # the fields, for type checkers only (pydantic must not see them)
        flip_rate: float
        local_rate: float
        nonlinear_rate: float
        paint_rate: float
        inpaint_rate: float
        mode: Mode
        use_nonlinear: bool
        use_local_shuffle: bool
        use_outpaint: bool
        use_inpaint: bool
        bezier_points: int
        bezier_table_size: int
        shuffle_blocks: int

    def _validate(self) -> None:
        for name in _RATES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        for name, minimum in _MINIMUM_COUNTS.items():
            if getattr(self, name) < minimum:
                raise ValueError(f"{name} must be at least {minimum}, got {getattr(self, name)}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")

    @classmethod
    def ablation(cls, name: str, **overrides: Any) -> Any:
        """A config enabling the ablation group(s) ``name`` ("I&II", "III&IV", "all", ...)."""
        return cls(**{**ablation_switches(name), **overrides})

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


try:
    import pydantic
except ImportError:  # bare CUDA image: torch and NumPy only
    pydantic = None  # type: ignore[assignment]

if pydantic is not None:

    class TransformConfig(_ConfigLogic, pydantic.BaseModel):
        """Corruption rates and switches (pydantic variant); see the module docstring."""

        model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

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

        @pydantic.model_validator(mode="after")
        def _check(self) -> TransformConfig:
            self._validate()
            return self

else:
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class TransformConfig(_ConfigLogic):  # type: ignore[no-redef]
        """Corruption rates and switches (dataclass variant); see the module docstring."""

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
        bezier_points: int = 100_000
        bezier_table_size: int = 2048
        shuffle_blocks: int = 10_000

        def __post_init__(self) -> None:
            self._validate()
