"""One fine-tune of an initialisation on a target task, registered in MLflow."""

from __future__ import annotations

from typing import Literal

from prefect import flow

from flows.options import default_model_name, target_store
from genesis_core.store import read_latest
from genesis_core.target_tasks import TaskName, target_task
from tasks.contracts.finetune import FinetuneResult
from tasks.evaluation import fit_dir
from tasks.finetune import fit_one, register_fits
from tasks.settings import get_settings


@flow(name="finetune", log_prints=True)
def finetune_flow(
    task: TaskName,
    init: str = "genesis",
    dataset: str | None = None,
    store: str | None = None,
    root: str | None = None,
    fraction: float = 1.0,
    seed: int = 0,
    profile: Literal["tiny", "paper"] = "tiny",
    steps: int | None = None,
    experiment: str = "genesis-finetune",
    model_name: str | None = None,
    label: list[str] | None = None,
) -> FinetuneResult:
    """One fine-tune of ``init`` (scratch, genesis, models:/…, file:PATH) on ``task``; registered
    as ``model_name`` (default ``genesis-TASK``; ``genesis-seg-DATASET-LABEL`` for ``seg``,
    whose target store is found by ``label`` too)."""
    settings = get_settings(root)
    uri = target_store(settings.root_uri, task, dataset, store, label)
    version = read_latest(settings.location(uri)).version
    run_dir = fit_dir(
        settings,
        uri,
        version,
        task=task,
        init=init,
        fraction=fraction,
        seed=seed,
        profile=profile,
        steps=steps,
        fractions=[fraction],
    )
    r = fit_one(
        task,
        store_uri=uri,
        init=init,
        fraction=fraction,
        fractions=[fraction],
        seed=seed,
        profile=profile,
        steps=steps,
        run_dir=str(run_dir),
        experiment=experiment,
        root=root,
        store_version=version,
    )
    name = model_name or default_model_name(task, dataset, label, uri)
    tags = {"target_store_uri": uri, "target_store_version": str(version)}
    reg = register_fits([r], name, target_task(task).primary_metric, tags, root=root)
    return FinetuneResult(fit=r, registration=reg)
