"""Register a small model the way the pipeline does (tests of the registry's model format)."""

from __future__ import annotations

import mlflow
import torch

from genesis_core.models import UNet3D, UNet3DConfig
from tasks import registry
from tasks.pretrain import SIGNATURE
from tasks.settings import get_settings
from tasks.tracking import ensure_experiment, use_tracking


def register_tiny(folder, name: str, seed: int = 0):
    """A width-1/8 U-Net with non-default weights, logged (safetensors + ``pt2``) and registered
    as ``name`` with alias ``champion``; returns (model, model version, ModelInfo)."""
    torch.manual_seed(seed)
    model = UNet3D(UNet3DConfig(width=0.125)).eval()
    for p in model.parameters():
        p.data.normal_(0, 0.1)
    use_tracking(get_settings())
    exp = ensure_experiment("registry-test", get_settings())
    with mlflow.start_run(experiment_id=exp) as run:
        registry.log_weights(model, "restore", folder)
        info = registry.log_model(model, SIGNATURE)
    mv = registry.register_version(info, run.info.run_id, name, {"k": "v"})
    mlflow.MlflowClient().set_registered_model_alias(name, "champion", mv.version)
    return model, mv, info
