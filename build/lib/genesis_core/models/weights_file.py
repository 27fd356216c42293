"""Self-describing weight files: safetensors whose header names the network that reads them.

A file holds the ``state_dict`` of a :class:`UNet3D` or :class:`UNet3DClassifier` (tensors
in the project's (N, C, D, H, W) layout, no module prefixes) plus string metadata:
``network`` (the class name), ``config`` (its :class:`UNet3DConfig` as JSON), ``head``
(classifier only: ``hidden``/``n_outputs`` as JSON) and ``task`` (``restore``, ``ncc``,
``seg``, …).  The file alone rebuilds the network, and reading it never unpickles anything.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Any

from torch import Tensor, nn

from genesis_core.models.networks import by_class


def network_metadata(model: nn.Module, task: str) -> dict[str, str]:
    """The header entries that let :func:`build_network` rebuild ``model``."""
    name = type(model).__name__
    try:
        _, classification = by_class(name)
    except ValueError as e:
        raise TypeError(f"cannot describe a {name}: {e}") from None
    meta = {"network": name, "config": json.dumps(asdict(model.config)), "task": task}
    if classification:
        fc1, fc2 = model.head.fc1, model.head.fc2
        meta["head"] = json.dumps({"hidden": fc1.out_features, "n_outputs": fc2.out_features})
    return meta


def save_weights(model: nn.Module, path: str | os.PathLike, task: str = "restore") -> str:
    """Write ``model``'s weights (CPU, contiguous) with its description; returns the path."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata=network_metadata(model, task))
    return str(path)


def read_weights(path: str | os.PathLike) -> tuple[dict[str, Tensor], dict[str, str]]:
    """(state dict on CPU, header metadata; empty for files written without one)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """Only the header (no tensor is read)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as f:
        return dict(f.metadata() or {})


def build_network(
    path: str | os.PathLike, fallback_config: dict[str, Any] | None = None
) -> tuple[nn.Module, dict[str, str]]:
    """The network a weight file describes, with its weights loaded, in eval mode.

    ``fallback_config`` (a :class:`UNet3DConfig` dict) serves files written before the
    header existed; those always hold a :class:`UNet3D`.
    """
    state, meta = read_weights(path)
    if "network" not in meta:
        if fallback_config is None:
            raise ValueError(f"{path}: no network description in its header and no config given")
        meta = {"network": "UNet3D", "config": json.dumps(fallback_config), "task": "restore"}
    try:
        net, classification = by_class(meta["network"])
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    config = net.config(**json.loads(meta["config"]))
    if classification:
        model: nn.Module = net.classifier(config, **json.loads(meta.get("head", "{}")))
    else:
        model = net.restorer(config)
    model.load_state_dict(state)
    return model.eval(), meta


__all__ = [
    "build_network",
    "network_metadata",
    "read_metadata",
    "read_weights",
    "save_weights",
]
