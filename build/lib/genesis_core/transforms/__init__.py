"""The Models Genesis corruptions (SPEC §2): batched torch for training, NumPy reference.

* :func:`make_pairs` ``(cubes (N, C, D, H, W), generator, config) -> (inputs, targets)``,
  vectorised over the batch on its device; :func:`make_validation_pairs` for fixed,
  seed-determined validation corruptions.
* :class:`TransformConfig`: rates, ``mode`` ("faithful" / "fixed") and ablation switches
  (``TransformConfig.ablation("I&II")``).
* :func:`reference_pair` / :func:`reference_pairs`: the sample-by-sample NumPy reference,
  baseline of ``benchmarks/transforms.py`` and parity oracle.

Modules, one concept each: ``config``, ``geometry`` (size rules shared by both
implementations), ``reference``, and for torch ``plan`` (all random decisions of a batch),
``flip``, ``blocks`` + ``shuffle``, ``intensity``, ``painting``, ``pipeline``.
Imports need only torch and NumPy.
"""

from typing import TYPE_CHECKING, Any

from genesis_core.transforms.config import TransformConfig, ablation_switches

if TYPE_CHECKING:
    from genesis_core.transforms.pipeline import make_pairs, make_validation_pairs
    from genesis_core.transforms.reference import reference_pair, reference_pairs

# torch loads on first use, so that reading a config (the CLI's "nothing to do") stays fast
_LAZY = {
    "make_pairs": "pipeline",
    "make_validation_pairs": "pipeline",
    "reference_pair": "reference",
    "reference_pairs": "reference",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "TransformConfig",
    "ablation_switches",
    "make_pairs",
    "make_validation_pairs",
    "reference_pair",
    "reference_pairs",
]
