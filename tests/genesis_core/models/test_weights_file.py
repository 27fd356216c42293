"""Self-describing safetensors: the file alone rebuilds the network, exactly."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from genesis_core.models import UNet3D, UNet3DClassifier, UNet3DConfig
from genesis_core.models.weights_file import build_network, read_metadata, save_weights


@pytest.mark.parametrize(
    "model",
    [
        UNet3D(UNet3DConfig(width=0.125, bn_always_batch_stats=True)),
        UNet3DClassifier(UNet3DConfig(width=0.125), hidden=16, n_outputs=2),
    ],
    ids=["unet", "classifier"],
)
def test_the_file_alone_rebuilds_the_network(tmp_path, model) -> None:
    torch.manual_seed(0)
    for p in model.parameters():  # not the init: prove the weights travel
        p.data.normal_()
    model.eval()
    path = save_weights(model, tmp_path / "w.safetensors", task="ncc")
    rebuilt, meta = build_network(path)
    assert type(rebuilt) is type(model) and rebuilt.config == model.config
    assert meta["task"] == "ncc" and read_metadata(path)["network"] == type(model).__name__
    x = torch.rand(2, 1, 16, 16, 24)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


def test_a_file_without_header_needs_its_config(tmp_path) -> None:
    model = UNet3D(UNet3DConfig(width=0.125)).eval()
    path = tmp_path / "old.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    with pytest.raises(ValueError, match="no network description"):
        build_network(path)
    rebuilt, _ = build_network(path, {"width": 0.125})
    x = torch.rand(1, 1, 16, 16, 16)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


def test_only_known_networks_are_described(tmp_path) -> None:
    with pytest.raises(TypeError, match="cannot describe"):
        save_weights(torch.nn.Linear(2, 2), tmp_path / "x.safetensors")
