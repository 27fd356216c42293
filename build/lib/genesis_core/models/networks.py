"""The networks, one definition each: a family of modules the pipeline can train.

A :class:`Network` names its config dataclass and two modules built from it: the
``restorer`` (pre-training: cubes → restored cubes, same shape) and the ``classifier``
(the restorer's encoder with a head: cubes → one logit per cube, for classification
tasks; it takes ``(config, hidden=…, n_outputs=…)`` and keeps its head in ``.head`` with
``fc1``/``fc2``).  Segmentation tasks fine-tune the restorer whole.  Presets choose a
network by name (``network = "unet3d"``), checkpoints and registered models record it,
and weight files name the module class, which :func:`by_class` resolves.

Adding a network: its module(s) under :mod:`genesis_core.models`, one line below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from genesis_core.models.classifier import UNet3DClassifier
from genesis_core.models.unet3d import UNet3D, UNet3DConfig


@dataclass(frozen=True)
class Network:
    name: str
    config: type  # a dataclass; ``width`` and ``bn_momentum`` are what presets set
    restorer: Callable[[Any], nn.Module]
    classifier: Callable[..., nn.Module]

    def build(self, config: Any, classification: bool = False) -> nn.Module:
        return self.classifier(config) if classification else self.restorer(config)


NETWORKS: dict[str, Network] = {
    n.name: n for n in (Network("unet3d", UNet3DConfig, UNet3D, UNet3DClassifier),)
}
DEFAULT = "unet3d"


def network(name: str) -> Network:
    """The network called ``name``; an unknown name lists the known ones."""
    try:
        return NETWORKS[name]
    except KeyError:
        raise ValueError(f"unknown network {name!r}; use one of {sorted(NETWORKS)}") from None


def by_class(class_name: str) -> tuple[Network, bool]:
    """(the network, is it the classifier) whose restorer or classifier class is called
    ``class_name`` (the ``network`` entry of a weight file's header)."""
    for net in NETWORKS.values():
        for classification, cls in ((False, net.restorer), (True, net.classifier)):
            if getattr(cls, "__name__", None) == class_name:
                return net, classification
    known = sorted(
        getattr(c, "__name__", "?") for n in NETWORKS.values() for c in (n.restorer, n.classifier)
    )
    raise ValueError(f"unknown network class {class_name!r}; known: {known}")
