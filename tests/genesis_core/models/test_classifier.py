"""Classification head and encoder-only classifier."""

from __future__ import annotations

import torch

from genesis_core.models import ClassificationHead, UNet3D, UNet3DClassifier, UNet3DConfig

CONFIG = UNet3DConfig(width=0.25)


def test_head_shapes():
    head = ClassificationHead(512)
    assert head.fc1.in_features == 512 and head.fc1.out_features == 1024
    assert head.fc2.out_features == 1
    assert head(torch.rand(4, 512, 8, 8, 4)).shape == (4, 1)


def test_classifier_outputs_logits_per_sample():
    model = UNet3DClassifier(CONFIG)
    logits = model(torch.rand(3, 1, 16, 32, 32))
    assert logits.shape == (3, 1)
    assert model.encode(torch.rand(2, 1, 16, 16, 16)).shape == (2, 128, 2, 2, 2)


def test_classifier_has_no_decoder_and_reference_encoder_names():
    keys = UNet3DClassifier(CONFIG).state_dict().keys()
    assert not any(k.startswith(("up_tr", "out_tr")) for k in keys)
    assert "down_tr64.ops.0.conv1.weight" in keys and "head.fc1.weight" in keys


def test_from_unet_copies_the_encoder():
    torch.manual_seed(1)
    unet = UNet3D(CONFIG)
    clf = UNet3DClassifier.from_unet(unet, n_outputs=2)
    x = torch.rand(2, 1, 16, 16, 16)
    unet.eval(), clf.eval()
    with torch.no_grad():
        torch.testing.assert_close(clf.encode(x), unet.encode(x))
    assert clf(x).shape == (2, 2)
