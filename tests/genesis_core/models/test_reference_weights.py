"""Loading the released reference weights (DataParallel ``module.`` prefix, partial loads)."""

from __future__ import annotations

import pytest
import torch

from genesis_core.models import UNet3D, UNet3DClassifier, UNet3DConfig, load_reference_weights

CONFIG = UNet3DConfig(width=0.125)


def _released_file(tmp_path, model, drop=(), extra=None):
    """Write ``model``'s weights the way ``Genesis_Chest_CT.pt`` stores them."""
    state = {f"module.{k}": v for k, v in model.state_dict().items() if k not in drop}
    state |= extra or {}
    path = tmp_path / "Genesis_Chest_CT.pt"
    torch.save({"state_dict": state}, path)
    return path


def _randomised(config=CONFIG):
    torch.manual_seed(7)
    model = UNet3D(config)
    with torch.no_grad():
        for buffer in model.buffers():
            if buffer.is_floating_point():
                buffer.uniform_(0.5, 1.5)
    return model


def test_round_trip_with_module_prefix(tmp_path):
    """Every tensor arrives; 5-D kernels of the released (X, Y, Z) layout are permuted."""
    source = _randomised()
    target = UNet3D(CONFIG)
    report = load_reference_weights(target, _released_file(tmp_path, source))
    assert report.missing == [] and report.unexpected == [] and report.complete
    for key, value in source.state_dict().items():
        want = value.permute(0, 1, 4, 3, 2) if value.ndim == 5 else value
        assert torch.equal(target.state_dict()[key], want), key


def _lively(config):
    """A network whose outputs depend on its filters: He-scaled kernels, BN statistics near
    (0, 1) (randomised buffers alone saturate it to a constant)."""
    torch.manual_seed(3)
    model = UNet3D(config)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 5:
                fan_in = p.shape[1] * p.shape[2] * p.shape[3] * p.shape[4]
                p.normal_(0, (2.0 / fan_in) ** 0.5)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.normal_(0, 0.05)
            elif name.endswith("running_var"):
                b.uniform_(0.8, 1.2)
    return model


def _reference_output(model, volume_zyx):
    """The reference network reads the same volume as (N, 1, X, Y, Z); its output back in (Z, Y, X)."""
    return model(volume_zyx.permute(0, 1, 4, 3, 2)).permute(0, 1, 4, 3, 2)


@pytest.mark.parametrize("config", [CONFIG, UNet3DConfig(width=0.25)])
def test_released_weights_give_the_reference_outputs_on_the_same_volume(tmp_path, config):
    """SPEC §3: the released file was trained on (N, 1, X, Y, Z); loaded here, the network
    must compute on (N, 1, Z, Y, X) exactly what the reference computes on the same volume."""
    reference = _lively(config).eval()
    path = _released_file(tmp_path, reference)
    ours = UNet3D(config).eval()
    assert load_reference_weights(ours, path).complete
    volume = torch.rand(2, 1, 16, 24, 32, generator=torch.Generator().manual_seed(1))  # Z≠Y≠X
    with torch.no_grad():
        want, got = _reference_output(reference, volume), ours(volume)
        unpermuted = UNet3D(config).eval()
        unpermuted.load_state_dict(reference.state_dict())
        wrong = unpermuted(volume)
    assert torch.allclose(got, want, atol=1e-5), float((got - want).abs().max())
    assert float((wrong - want).abs().max()) > 1e-3, "the test must see the X↔Z transposition"


def test_own_checkpoints_are_not_permuted(tmp_path):
    """The project's checkpoints ({'model': …}, plain state dicts) are already (Z, Y, X)."""
    source = _randomised().eval()
    path = tmp_path / "last.pt"
    torch.save({"model": source.state_dict(), "step": 3}, path)
    volume = torch.rand(1, 1, 16, 24, 32)
    for init in (path, source.state_dict(), {"state_dict": source.state_dict()}):
        target = UNet3D(CONFIG).eval()
        assert load_reference_weights(target, init).complete
        with torch.no_grad():
            assert torch.equal(target(volume), source(volume))
    forced = UNet3D(CONFIG).eval()
    load_reference_weights(forced, path, layout="xyz")  # an explicit layout wins over auto
    key = "down_tr64.ops.0.conv1.weight"
    assert torch.equal(forced.state_dict()[key], source.state_dict()[key].permute(0, 1, 4, 3, 2))


def test_missing_and_unexpected_keys_are_reported(tmp_path):
    source = _randomised()
    dropped = "up_tr64.ops.1.conv1.weight"
    extra = {"module.decoder.extra": torch.zeros(3)}
    path = _released_file(tmp_path, source, drop={dropped}, extra=extra)
    target = UNet3D(CONFIG)
    before = target.state_dict()[dropped].clone()
    report = load_reference_weights(target, path)
    assert report.missing == [dropped]
    assert report.unexpected == ["decoder.extra"]
    assert not report.complete
    assert torch.equal(target.state_dict()[dropped], before)
    key = "down_tr64.ops.0.conv1.weight"
    assert torch.equal(target.state_dict()[key], source.state_dict()[key].permute(0, 1, 4, 3, 2))


def test_files_without_batch_counters_load_completely(tmp_path):
    """Old releases may lack ``num_batches_tracked``; that must not count as missing."""
    source = _randomised()
    counters = {k for k in source.state_dict() if k.endswith("num_batches_tracked")}
    assert counters
    report = load_reference_weights(UNet3D(CONFIG), _released_file(tmp_path, source, counters))
    assert report.complete and not report.unexpected


def test_shape_mismatch_names_the_key(tmp_path):
    path = _released_file(tmp_path, _randomised())
    with pytest.raises(ValueError, match=r"down_tr64\.ops\.0\.conv1\.weight"):
        load_reference_weights(UNet3D(UNet3DConfig(width=0.25)), path)


def test_encoder_weights_load_into_classifier(tmp_path):
    source = _randomised()
    clf = UNet3DClassifier(CONFIG)
    report = load_reference_weights(clf, _released_file(tmp_path, source))
    assert {k.split(".")[0] for k in report.unexpected} == {
        "up_tr256",
        "up_tr128",
        "up_tr64",
        "out_tr",
    }
    assert {k.split(".")[0] for k in report.missing} == {"head"}
    key = "down_tr512.ops.1.bn1.running_mean"
    assert torch.equal(clf.state_dict()[key], source.state_dict()[key])


def test_accepts_a_loaded_plain_state_dict():
    source = _randomised()
    target = UNet3D(CONFIG)
    assert load_reference_weights(target, source.state_dict()).complete
    key = "out_tr.final_conv.bias"
    assert torch.equal(target.state_dict()[key], source.state_dict()[key])


@pytest.mark.parametrize("mode", ["fixed", "faithful"])
def test_faithful_mode_uses_batch_statistics_in_eval_like_the_reference(tmp_path, mode):
    """SPEC §3: the reference's BatchNorm always uses batch statistics.  In faithful mode the
    released checkpoint gives the reference's eval outputs; in fixed mode running statistics."""
    from genesis_core.training.profiles import profile

    cfg = profile("tiny", mode=mode).model
    assert cfg.bn_always_batch_stats is (mode == "faithful")
    reference = _lively(UNet3DConfig(width=cfg.width, bn_always_batch_stats=True)).eval()
    path = _released_file(tmp_path, reference)
    ours = UNet3D(cfg).eval()
    assert load_reference_weights(ours, path).complete
    volume = torch.rand(2, 1, 16, 24, 32, generator=torch.Generator().manual_seed(2)) * 2
    with torch.no_grad():
        want, got = _reference_output(reference, volume), ours(volume)
    gap = float((got - want).abs().max())
    assert (gap < 1e-5) if mode == "faithful" else (gap > 1e-3), gap
