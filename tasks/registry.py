"""The model registry: how models are logged, registered and loaded back, without pickle.

Format of a logged model (``runs:/RUN/model``, registered as ``models:/NAME/VERSION``):
MLflow's ``pt2`` flavour, a ``torch.export`` program whose batch size and cube sides
(D, H, W) are dynamic, so ``mlflow.pytorch.load_model`` / ``mlflow.pyfunc.load_model``
run it in any environment with ``torch`` and ``mlflow`` alone (no project code, no
pickle).  Sides must be multiples of 8 and at least 16 voxels (three max-pools; the
export specialises a 1-voxel bottleneck).  Inside the project a registered model is
rebuilt from the run's self-describing safetensors file (``weights/model.safetensors``,
see :mod:`genesis_core.models.weights_file`) instead, so fine-tuning, warm starts and
champion comparisons get a plain ``nn.Module`` with exactly the trained weights.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import torch
from mlflow.exceptions import MlflowException
from mlflow.models.signature import ModelSignature
from mlflow.tracking import MlflowClient
from torch import Tensor, nn

from genesis_core.models.weights_file import build_network, read_metadata, save_weights
from tasks.tracking import artifacts_through_the_server

WEIGHTS_DIR, WEIGHTS_FILE = "weights", "model.safetensors"
# Batch 2 and three distinct sides: torch.export then keeps every one of them symbolic
# (a size-1 dimension would be specialised, equal sizes could be tied together).
EXAMPLE_SHAPE = (2, 1, 16, 24, 32)


def torch_requirement() -> str:
    """The exact torch release (without a local ``+cpu``/``+cu…`` tag): pip can install it."""
    return f"torch=={torch.__version__.split('+')[0]}"


def log_weights(model: nn.Module, task: str, folder: Path) -> None:
    """Write the network's safetensors (with its description) and log it to the active run."""
    path = save_weights(model, folder / WEIGHTS_FILE, task)
    mlflow.log_artifact(path, WEIGHTS_DIR)


def log_model(model: nn.Module, signature: ModelSignature):
    """Log ``model`` (eval mode, CPU) as the active run's ``model`` in the ``pt2`` format.

    Returns MLflow's ``ModelInfo`` (``model_uri`` ``models:/m-…``, ``model_id``)."""
    example = np.random.default_rng(0).random(EXAMPLE_SHAPE, dtype=np.float32)
    return mlflow.pytorch.log_model(
        model.eval().cpu(),
        name="model",
        serialization_format="pt2",
        signature=signature,
        input_example=example,
        pip_requirements=[torch_requirement()],
    )


def register_version(info, run_id: str, name: str, tags: dict[str, str]):
    """A new version of ``name`` for a logged model.  Creates the registered model only when it
    is missing (``mlflow.register_model`` prints "already exists" on every call)."""
    client = MlflowClient()
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name)
    return client.create_model_version(
        name, info.model_uri, run_id=run_id, tags=tags, model_id=info.model_id
    )


def resolve(model_uri: str) -> dict[str, str]:
    """``models:/NAME@ALIAS``, ``models:/NAME/VERSION`` or ``runs:/RUN_ID[/…]`` → the concrete
    ``{"name", "version", "run_id"}`` it means now (name/version empty for a run URI)."""
    if model_uri.startswith("runs:/"):
        return {"name": "", "version": "", "run_id": model_uri.removeprefix("runs:/").split("/")[0]}
    if not model_uri.startswith("models:/"):
        raise ValueError(f"not a model URI: {model_uri!r} (use models:/NAME@ALIAS or runs:/RUN_ID)")
    ref = model_uri.removeprefix("models:/")
    client = MlflowClient()
    if "@" not in ref and "/" not in ref:
        raise ValueError(f"{model_uri!r}: name a version or an alias (models:/NAME@champion)")
    try:
        if "@" in ref:
            mv = client.get_model_version_by_alias(*ref.rsplit("@", 1))
        else:
            mv = client.get_model_version(*ref.split("/", 1))
    except MlflowException as e:
        if e.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise  # the server itself: retried by the caller, never a user error
        raise missing_model(model_uri, client) from None
    return {"name": mv.name, "version": str(mv.version), "run_id": mv.run_id}


def missing_model(model_uri: str, client: MlflowClient) -> ValueError:
    """A missing model, version or alias, named with what the registry does hold."""
    name = model_uri.removeprefix("models:/").split("@")[0].split("/")[0]
    try:
        versions = client.search_model_versions(f"name='{name}'")
    except MlflowException:
        versions = []
    if not versions:
        held = f"the registry has no model {name!r}; train one with `genesis pretrain`"
    else:
        try:  # versions from a search carry no aliases (SQL registry); the model does
            aliases = sorted(client.get_registered_model(name).aliases)
        except MlflowException:
            aliases = []
        numbers = ", ".join(str(v) for v in sorted((v.version for v in versions), key=int))
        named = f" and aliases {', '.join(aliases)}" if aliases else " and no aliases"
        held = f"{name} has versions {numbers}{named}"
    return ValueError(f"{model_uri}: not in the registry ({held})")


def load_network(model_uri: str) -> nn.Module:
    """The network behind a registered model or run, rebuilt from its safetensors (eval mode)."""
    run_id = resolve(model_uri)["run_id"]
    with tempfile.TemporaryDirectory(prefix="genesis-weights-") as tmp:
        path = _download(run_id, f"{WEIGHTS_DIR}/{WEIGHTS_FILE}", tmp, model_uri)
        fallback = None if "network" in read_metadata(path) else _legacy_config(run_id, tmp)
        return build_network(path, fallback)[0]


def load_state_dict(model_uri: str) -> dict[str, Tensor]:
    """The weights behind ``model_uri`` (CPU tensors, no module prefixes)."""
    return load_network(model_uri).state_dict()


def _download(run_id: str, artifact_path: str, dst: str, model_uri: str) -> str:
    artifacts_through_the_server()
    try:
        return mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=artifact_path, dst_path=dst
        )
    except MlflowException as e:
        if e.error_code != "RESOURCE_DOES_NOT_EXIST" and "No such file" not in str(e):
            raise
        raise FileNotFoundError(
            f"{model_uri}: run {run_id} has no {artifact_path} (registered before weights were "
            f"logged as safetensors? re-run that stage to register it again): {e}"
        ) from e
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{model_uri}: run {run_id} has no {artifact_path}: {e}") from e


def _legacy_config(run_id: str, dst: str) -> dict[str, Any]:
    """Pre-training runs logged before weight headers existed: the run's ``config.json``."""
    path = _download(run_id, "config.json", dst, f"runs:/{run_id}")
    return json.loads(Path(path).read_text())["model"]
