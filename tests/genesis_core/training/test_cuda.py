"""The training loop on a CUDA device: bf16 autocast, channels-last, GPU corruptions, resume.

Skipped without a GPU (CI has none); run on a GPU machine with ``pytest -m gpu``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genesis_core.models import UNet3D, UNet3DClassifier, UNet3DConfig
from genesis_core.training import (
    ArrayPairReader,
    FinetuneConfig,
    ListSink,
    bce_with_logits_loss,
    finetune,
    load_checkpoint,
    train,
)
from genesis_core.transforms import TransformConfig, make_pairs

from ._helpers import assert_same_weights, config, noise_corrupt, readers, tiny_model

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def cuda_config(**overrides):
    return config(**({"device": "cuda", "bf16": True, "channels_last": True} | overrides))


def genesis_corrupt(cubes, generator):
    """The production corruption (SPEC §2) on 16³ cubes: flips, curves, shuffle, painting."""
    return make_pairs(cubes, generator, TransformConfig(mode="fixed"))


def test_pretraining_learns_on_the_gpu_in_bf16(tmp_path):
    sink = ListSink()
    model = tiny_model()
    result = train(
        model,
        *readers(),
        noise_corrupt,
        cuda_config(max_steps=24, val_every_steps=8),
        sink,
        tmp_path,
    )
    losses = [v for _, v in sink.series("train_loss")]
    val = [h["val_loss"] for h in result.history]
    assert all(np.isfinite(losses)) and losses[-1] < 0.5 * losses[0]
    assert val[-1] < val[0]
    assert next(model.parameters()).is_cuda
    assert next(model.parameters()).dtype == torch.float32  # autocast, not a bf16 model
    payload = load_checkpoint(tmp_path / "last.pt")
    assert "torch_cuda" in payload["rng"] and payload["rng"]["generator"].dtype == torch.uint8


def test_genesis_corruptions_feed_the_gpu_loop():
    sink = ListSink()
    result = train(
        tiny_model(),
        *readers(),
        genesis_corrupt,
        cuda_config(max_steps=12, val_every_steps=4),
        sink,
    )
    assert result.steps == 12
    assert all(np.isfinite(v) for _, v in sink.series("train_loss"))
    assert [v for _, v in sink.series("cubes_per_s")]


def test_stop_then_resume_on_the_gpu_joins_the_straight_run(tmp_path):
    """Same weights within bf16/cuDNN tolerance after 10 straight vs 6 + resume to 10 steps."""
    cfg = cuda_config(max_steps=10, val_every_steps=2)
    straight = tiny_model()
    expected = train(straight, *readers(), noise_corrupt, cfg, None, tmp_path / "a")
    train(
        tiny_model(),
        *readers(),
        noise_corrupt,
        cuda_config(max_steps=6, val_every_steps=2),
        None,
        tmp_path / "b",
    )
    resumed = tiny_model(seed=123)
    result = train(resumed, *readers(), noise_corrupt, cfg, None, tmp_path / "b", resume=True)
    assert result.steps == 10
    assert_same_weights(straight, resumed, atol=5e-3)
    assert [h["val_loss"] for h in result.history] == pytest.approx(
        [h["val_loss"] for h in expected.history], rel=2e-2
    )


def test_compiled_model_trains(tmp_path):
    sink = ListSink()
    result = train(
        tiny_model(),
        *readers(),
        noise_corrupt,
        cuda_config(max_steps=8, val_every_steps=4, compile=True),
        sink,
    )
    assert result.steps == 8 and all(np.isfinite(v) for _, v in sink.series("train_loss"))


def test_classifier_fine_tunes_on_the_gpu(tmp_path):
    rng = np.random.default_rng(0)
    labels = (np.arange(24) % 2).astype(np.float32)
    cubes = rng.random((24, 16, 16, 16), dtype=np.float32) * 0.5 + labels[:, None, None, None] * 0.5
    torch.manual_seed(0)
    model = UNet3DClassifier(UNet3DConfig(width=0.125), hidden=32)
    cfg = FinetuneConfig(
        batch_size=4, max_steps=24, val_every_steps=4, log_every_steps=4, device="cuda"
    )
    result = finetune(
        model,
        ArrayPairReader(cubes[:16], labels[:16]),
        ArrayPairReader(cubes[16:], labels[16:]),
        bce_with_logits_loss,
        cfg,
        None,
        tmp_path,
    )
    assert result.best_val_loss < np.log(2)


def test_paper_width_model_fits_a_batch_in_bf16():
    """The 19M-parameter model at 64×64×32, batch 32: one bf16 step, finite loss."""
    model = UNet3D(UNet3DConfig()).cuda().to(memory_format=torch.channels_last_3d)
    x = torch.rand(32, 1, 32, 64, 64, device="cuda")
    inputs, targets = make_pairs(
        x, torch.Generator(device="cuda").manual_seed(0), TransformConfig()
    )
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(inputs.contiguous(memory_format=torch.channels_last_3d))
    loss = torch.nn.functional.mse_loss(out.float(), targets)
    loss.backward()
    assert torch.isfinite(loss) and out.shape == targets.shape
