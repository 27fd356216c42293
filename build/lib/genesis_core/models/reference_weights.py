"""Load the released Models Genesis PyTorch weights (``Genesis_Chest_CT.pt``).

The released file is ``{"state_dict": {"module.down_tr64.ops.0.conv1.weight": ..., ...}}``
(the ``module.`` prefix comes from ``DataParallel``). Plain state dicts, with or without
the prefix (or ``_orig_mod.`` from ``torch.compile``), load too.

Axis layout.  The released weights were trained on (N, 1, X, Y, Z) tensors; this project's
tensors are (N, 1, Z, Y, X) (:mod:`genesis_core.axes`).  Kernels of the released layout
(``"xyz"``) are therefore permuted by (0, 1, 4, 3, 2) on load, every 5-D tensor (Conv3d and
ConvTranspose3d weights); without it the filters are X↔Z-transposed and the outputs differ
by up to ~0.5 on the same volume.  The project's own checkpoints are already ``"zyx"`` and
are never permuted.  ``layout="auto"`` takes a file whose ``state_dict`` keys carry the
``module.`` prefix as the released layout, anything else as the project's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

_PREFIXES = ("module.", "_orig_mod.")


@dataclass(frozen=True)
class LoadReport:
    """Keys of the model absent from the file, and keys of the file the model lacks."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True if every tensor of the model was loaded.

        (Files without BatchNorm ``num_batches_tracked`` counters count as complete:
        torch fills those in.)
        """
        return not self.missing


LAYOUTS = ("auto", "xyz", "zyx")


def file_layout(obj: Mapping[str, object]) -> str:
    """``"xyz"`` for the released file's format (``state_dict`` with ``module.`` keys), else ``"zyx"``."""
    state = obj.get("state_dict")
    if isinstance(state, Mapping) and any(str(k).startswith("module.") for k in state):
        return "xyz"
    return "zyx"


def to_project_layout(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """(…, X, Y, Z) kernels → (…, Z, Y, X): every 5-D tensor permuted by (0, 1, 4, 3, 2)."""
    return {
        k: v.permute(0, 1, 4, 3, 2).contiguous() if v.ndim == 5 else v for k, v in state.items()
    }


def read_state_dict(
    path_or_state: str | os.PathLike | Mapping[str, object], layout: str = "auto"
) -> dict[str, Tensor]:
    """Read a checkpoint (path or already-loaded object) into a prefix-free state dict in the
    project's (Z, Y, X) layout; ``layout`` says the file's (``auto``: see the module doc)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    obj = path_or_state
    if isinstance(obj, str | os.PathLike):
        obj = torch.load(obj, map_location="cpu", weights_only=True)
    if not isinstance(obj, Mapping):
        raise TypeError(f"expected a state dict or a dict with 'state_dict', got {type(obj)}")
    source = file_layout(obj) if layout == "auto" else layout
    state = obj.get("state_dict", obj.get("model", obj))
    state = {_strip_prefixes(k): v for k, v in state.items() if isinstance(v, Tensor)}
    return to_project_layout(state) if source == "xyz" else state


def _strip_prefixes(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix) :], True
    return key


def _check_shapes(model: nn.Module, state: Mapping[str, Tensor]) -> None:
    own = model.state_dict()
    for key, value in state.items():
        if key in own and own[key].shape != value.shape:
            raise ValueError(
                f"shape mismatch for {key!r}: file has {tuple(value.shape)}, "
                f"model has {tuple(own[key].shape)} (wrong width or channel count?)"
            )


def load_reference_weights(
    model: nn.Module,
    path_or_state: str | os.PathLike | Mapping[str, object],
    layout: str = "auto",
) -> LoadReport:
    """Load released (or own) weights into ``model`` in place; return what did not match.

    ``layout``: the file's axis layout (``xyz`` released, ``zyx`` the project's, ``auto``).
    Partial loads (e.g. encoder-only into a classifier) are allowed and reported.
    Raises ``ValueError`` naming the key if a tensor's shape differs from the model's.
    """
    state = read_state_dict(path_or_state, layout)
    _check_shapes(model, state)
    result = model.load_state_dict(state, strict=False)
    return LoadReport(missing=list(result.missing_keys), unexpected=list(result.unexpected_keys))
