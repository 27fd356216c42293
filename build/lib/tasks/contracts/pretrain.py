"""The pre-training stage: its spec, the training outcome (``result.json``), the registration,
the flow's result (``registered.json``), and the MLflow tags of a registered version."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tasks.contracts.base import Contract


@dataclass(frozen=True)
class PretrainPlan:
    """What a pre-training run's parameters resolve to: the transform config, the cube order,
    and the run folder (the same for the same store version and parameters)."""

    transform_cfg: dict[str, Any]
    sampling: str
    run_dir: Path


@dataclass(frozen=True, kw_only=True)
class TrainSpec:
    """Everything one training run needs (the ``pretrain-model`` task's input)."""

    store_uri: str
    profile: str
    steps: int | None
    transform_cfg: dict[str, Any]
    seed: int
    device: str
    resume: bool
    experiment: str
    run_dir: str
    warm_start: str | None = None
    gpus: int = 1
    sampling: str = "random"
    # the store version the run trains, validates and registers on (None: the latest)
    manifest_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class TrainOutcome(Contract):
    """A finished training run: its run folder's ``result.json`` (same keys, same order)."""

    run_id: str
    best_val_loss: float
    steps: int
    stop_reason: str
    checkpoint: str
    model_config: dict[str, Any]
    network: str | None = None  # absent from results written before networks were named
    loop: dict[str, Any] = field(default_factory=dict)
    first_val_loss: float | None = None


@dataclass(frozen=True, kw_only=True)
class Registration(Contract):
    """A registered version, aliased ``candidate``, and whether it became ``champion``."""

    model_name: str
    version: int
    val_loss: float
    champion_val_loss: float | None
    promoted: bool
    champion_version: int | None
    run_id: str
    decision: str = ""  # the one-line reason: "promoted: …" / "kept champion v…: …"


@dataclass(frozen=True, kw_only=True)
class PretrainResult(TrainOutcome):
    """The pretrain flow's result, and its run folder's ``registered.json`` (same keys, same
    order: the training outcome's, the registration's, then where it lives)."""

    model_name: str
    version: int
    val_loss: float
    champion_val_loss: float | None = None
    promoted: bool
    champion_version: int | None
    decision: str = ""
    store_uri: str
    run_dir: str
    tracking_uri: str

    @classmethod
    def of(
        cls,
        trained: TrainOutcome,
        reg: Registration,
        *,
        store_uri: str,
        run_dir: str,
        tracking_uri: str,
    ) -> PretrainResult:
        values = {f.name: getattr(trained, f.name) for f in fields(trained)}
        values.update({f.name: getattr(reg, f.name) for f in fields(reg)})
        return cls(**values, store_uri=store_uri, run_dir=run_dir, tracking_uri=tracking_uri)


@dataclass(frozen=True, kw_only=True)
class DeployedPretrain(Registration):
    """A pretrain flow run that ran elsewhere (a deployment), read back from the registry."""

    store_uri: str
    tracking_uri: str
    prefect_flow_run_id: str


# What the nightly report needs of a pre-training, run here or on a deployment.
PretrainOutcome = PretrainResult | DeployedPretrain


@dataclass(frozen=True, kw_only=True)
class PretrainTags(Contract):
    """The lineage tags of a registered pre-trained version (MLflow tags are strings)."""

    catalog_sha256: str
    cube_store_uri: str
    manifest_version: str
    manifest_sha256: str
    transform_config: str
    profile: str
    code_version: str
    prefect_flow_run_id: str
    warm_start: str
