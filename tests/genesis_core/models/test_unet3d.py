"""UNet3D: parameter count, reference layer names, shapes, BatchNorm modes."""

from __future__ import annotations

import pytest
import torch

from genesis_core.models import UNet3D, UNet3DConfig, count_parameters, set_bn_always_batch_stats

SMALL = UNet3DConfig(width=0.125)


def test_parameter_count_matches_spec():
    assert count_parameters(UNet3D()) == 19_073_665


def test_width_scales_parameter_count():
    assert count_parameters(UNet3D(UNet3DConfig(width=0.25))) < 19_073_665 // 10


@pytest.mark.parametrize(
    ("key", "shape"),
    [
        ("down_tr64.ops.0.conv1.weight", (32, 1, 3, 3, 3)),
        ("down_tr64.ops.1.conv1.weight", (64, 32, 3, 3, 3)),
        ("down_tr64.ops.0.bn1.running_mean", (32,)),
        ("down_tr128.ops.1.bn1.weight", (128,)),
        ("down_tr512.ops.1.conv1.weight", (512, 256, 3, 3, 3)),
        ("up_tr256.up_conv.weight", (512, 512, 2, 2, 2)),
        ("up_tr256.ops.0.conv1.weight", (256, 768, 3, 3, 3)),
        ("up_tr128.ops.0.conv1.weight", (128, 384, 3, 3, 3)),
        ("up_tr64.ops.0.conv1.weight", (64, 192, 3, 3, 3)),
        ("up_tr64.ops.1.bn1.running_var", (64,)),
        ("out_tr.final_conv.weight", (1, 64, 1, 1, 1)),
    ],
)
def test_reference_state_dict_names_and_shapes(key, shape):
    state = UNet3D().state_dict()
    assert tuple(state[key].shape) == shape


def test_top_level_prefixes_are_the_reference_ones():
    prefixes = {k.split(".")[0] for k in UNet3D(SMALL).state_dict()}
    assert prefixes == {
        "down_tr64",
        "down_tr128",
        "down_tr256",
        "down_tr512",
        "up_tr256",
        "up_tr128",
        "up_tr64",
        "out_tr",
    }


@pytest.mark.parametrize(
    ("batch", "dhw"), [(1, (16, 16, 16)), (2, (8, 16, 24)), (3, (16, 32, 32)), (2, (32, 64, 64))]
)
def test_forward_shape_and_range(batch, dhw):
    model = UNet3D(SMALL)
    with torch.no_grad():
        out = model(torch.rand(batch, 1, *dhw))
    assert out.shape == (batch, 1, *dhw)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_in_out_channels_and_logits():
    config = UNet3DConfig(in_channels=2, out_channels=3, width=0.125, output_activation="none")
    with torch.no_grad():
        out = UNet3D(config)(torch.randn(2, 2, 16, 16, 16) * 10)
    assert out.shape == (2, 3, 16, 16, 16)
    assert float(out.min()) < 0.0 or float(out.max()) > 1.0


@pytest.mark.parametrize("dhw", [(16, 16, 16), (8, 24, 40)])
def test_encoder_shape(dhw):
    model = UNet3D(UNet3DConfig(width=0.25))
    features = model.encode(torch.rand(2, 1, *dhw))
    assert features.shape == (2, 128, *(s // 8 for s in dhw))
    assert model.encoder_channels == 128


def test_rejects_sizes_not_divisible_by_8():
    with pytest.raises(ValueError, match="divisible by 8"):
        UNet3D(SMALL)(torch.rand(1, 1, 16, 16, 12))


def test_unknown_output_activation_is_rejected():
    with pytest.raises(ValueError, match="output_activation"):
        UNet3D(UNet3DConfig(width=0.125, output_activation="softmax"))


def _trained_stats_model(faithful: bool) -> UNet3D:
    torch.manual_seed(0)
    model = UNet3D(UNet3DConfig(width=0.125, bn_always_batch_stats=faithful))
    with torch.no_grad():
        model.train()
        for _ in range(3):  # move the running stats away from their initial values
            model(torch.rand(2, 1, 16, 16, 16) * 3 + 1)
    return model.eval()


def test_normal_bn_eval_is_independent_of_the_batch():
    model = _trained_stats_model(faithful=False)
    x = torch.rand(3, 1, 16, 16, 16)
    with torch.no_grad():
        alone, together = model(x[:1]), model(x)[:1]
    torch.testing.assert_close(alone, together)


def test_faithful_bn_eval_uses_batch_statistics():
    model = _trained_stats_model(faithful=True)
    x = torch.rand(3, 1, 16, 16, 16)
    buffers = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    with torch.no_grad():
        alone, together = model(x[:1]), model(x)[:1]
        eval_out = model(x)
    after = {k: v for k, v in model.state_dict().items() if "running" in k}
    assert all(torch.equal(buffers[k], after[k]) for k in buffers)  # eval leaves buffers alone
    assert not torch.allclose(alone, together)
    with torch.no_grad():
        train_out = model.train()(x)
    torch.testing.assert_close(eval_out, train_out)


def test_switching_bn_mode_changes_eval_output():
    model = _trained_stats_model(faithful=False)
    x = torch.rand(2, 1, 16, 16, 16)
    with torch.no_grad():
        normal = model(x)
        set_bn_always_batch_stats(model, True)
        faithful = model(x)
    assert not torch.allclose(normal, faithful)
