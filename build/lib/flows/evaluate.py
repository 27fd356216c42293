"""The evaluation experiment: the paper's table as a product feature.

For each init × label fraction × seed: fine-tune on that fraction of the training
scans (nested subsets, the same for every init), score on the test split.  Output:
mean ± std per cell, t-test p-values between inits per fraction, a learning curve;
logged to MLflow (a parent run, a child run per fit) and published as Prefect
artifacts.  Completed fits are never redone.
"""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger

from flows.options import default_model_name, target_store
from genesis_core.store import read_latest
from genesis_core.target_tasks import TaskName as Task
from genesis_core.target_tasks import target_task
from tasks.contracts.evaluate import EvaluationResult
from tasks.evaluation import (
    close_evaluation_run,
    fail_evaluation_run,
    fit_dir,
    open_evaluation_run,
    publish_evaluation,
)
from tasks.finetune import fit_one, register_fits
from tasks.settings import get_settings


def copies(inits: list[str]) -> list[str]:
    """Repeated inits get ``#2``, ``#3``, … (independent weight init seeds, see
    :func:`tasks.finetune.init_copy`)."""
    seen: dict[str, int] = {}
    out = []
    for init in inits:
        seen[init] = seen.get(init, 0) + 1
        out.append(init if seen[init] == 1 else f"{init}#{seen[init]}")
    return out


@flow(name="evaluate", log_prints=True)
def evaluate_flow(
    task: Task,
    dataset: str | None = None,
    store: str | None = None,
    root: str | None = None,
    inits: list[str] = ["scratch", "genesis"],  # noqa: B006 - never mutated
    seeds: int = 5,  # paired: 3 seeds leave the t-test almost no power (t 4.30 vs 2.78)
    label_fractions: list[float] = [0.1, 0.25, 0.5, 1.0],  # noqa: B006
    profile: Literal["tiny", "paper"] = "tiny",
    steps: int | None = None,
    experiment: str = "genesis-evaluate",
    model_name: str | None = None,
    register_models: bool = True,
    label: list[str] | None = None,
) -> EvaluationResult:
    """``inits`` (scratch, genesis, models:/NAME@ALIAS, file:PATH) × ``label_fractions``
    (each in (0, 1]) × ``seeds``.  ``label``: the target's label (``seg``), naming its store
    and model as in :func:`flows.finetune.finetune_flow`."""
    settings = get_settings(root)
    uri = target_store(settings.root_uri, task, dataset, store, label)
    version = read_latest(settings.location(uri)).version
    fractions = sorted(float(f) for f in label_fractions)
    init_list = copies([i.strip() for i in inits if i.strip()])
    metric = target_task(task).primary_metric
    key = {"task": task, "profile": profile, "steps": steps, "fractions": fractions}
    out_dir = fit_dir(settings, uri, version, inits=init_list, seeds=seeds, **key)
    params = {  # MLflow params as the comma strings they always were
        "task": task,
        "inits": ",".join(init_list),
        "seeds": seeds,
        "fractions": ",".join(str(float(f)) for f in label_fractions),
        "profile": profile,
        "steps": steps,
        "target_store": uri,
    }
    parent = open_evaluation_run(settings, experiment, f"evaluate-{task}", params)
    try:
        fits = [
            fit_one(
                task,
                store_uri=uri,
                init=init,
                fraction=f,
                fractions=fractions,
                seed=seed,
                profile=profile,
                steps=steps,
                run_dir=str(
                    fit_dir(settings, uri, version, init=init, fraction=f, seed=seed, **key)
                ),
                experiment=experiment,
                parent_run_id=parent,
                root=root,
                store_version=version,  # every fit on the version the run opened
            )
            for init in init_list
            for f in fractions
            for seed in range(seeds)
        ]
        rows, table_md = close_evaluation_run(parent, fits, metric, str(out_dir))
    except BaseException:
        fail_evaluation_run(parent)
        raise
    publish_evaluation(task, metric, rows, table_md)
    name = model_name or default_model_name(task, dataset, label, uri)
    reg = (
        register_fits(
            fits,
            name,
            metric,
            {"target_store_uri": uri, "target_store_version": str(version)},
            root=root,
        )
        if register_models
        else None
    )
    get_run_logger().info("\n%s", table_md)
    return EvaluationResult(
        task=task,
        metric=metric,
        rows=tuple(rows),
        markdown=table_md,
        fits=tuple(fits),
        out_dir=str(out_dir),
        parent_run_id=parent,
        registration=reg,
    )
