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
    source = _randomised()
    target = UNet3D(CONFIG)
    report = load_reference_weights(target, _released_file(tmp_path, source))
    assert report.missing == [] and report.unexpected == [] and report.complete
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key


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
    assert torch.equal(target.state_dict()[key], source.state_dict()[key])


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
