"""Networks are definitions: a new one is its modules and one registry line."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from genesis_core.models import networks
from genesis_core.models.networks import NETWORKS, Network, by_class, network
from genesis_core.models.weights_file import build_network, save_weights


@dataclass(frozen=True)
class ToyConfig:
    width: float = 1.0
    bn_momentum: float = 0.1
    bn_always_batch_stats: bool = False


class ToyRestorer(nn.Module):
    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.config = config
        self.conv = nn.Conv3d(1, 1, 3, padding=1)

    def forward(self, x):
        return torch.sigmoid(self.conv(x))


def test_the_unet_is_found_by_name_and_by_class() -> None:
    assert network("unet3d").restorer.__name__ == "UNet3D"
    assert by_class("UNet3DClassifier") == (NETWORKS["unet3d"], True)
    with pytest.raises(ValueError, match=r"unknown network 'vnet'; use one of \['unet3d'\]"):
        network("vnet")


def test_a_new_network_trains_from_a_preset_and_round_trips_its_weights(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setitem(
        networks.NETWORKS, "toy", Network("toy", ToyConfig, ToyRestorer, ToyRestorer)
    )
    (tmp_path / "pretrain.toml").write_text(
        '[toy]\nnetwork = "toy"\nmodel = { width = 0.5 }\nloop = { batch_size = 2, max_steps = 3 }\n'
    )
    monkeypatch.setenv("GENESIS_PRESETS_DIR", str(tmp_path))
    from genesis_core.training.profiles import profile

    prof = profile("toy", device="cpu")
    assert prof.network == "toy" and prof.model == ToyConfig(width=0.5)
    model = network(prof.network).restorer(prof.model)
    path = save_weights(model, tmp_path / "toy.safetensors")
    again, meta = build_network(path)
    assert isinstance(again, ToyRestorer) and meta["network"] == "ToyRestorer"
    x = torch.rand(1, 1, 8, 8, 8)
    assert torch.equal(again(x), model.eval()(x))
