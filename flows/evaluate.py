"""The evaluation experiment (the paper's table as a product feature) and single fine-tunes.

For each init × label fraction × seed: fine-tune on that fraction of the training
scans (nested subsets, the same for every init), score on the test split.  Output:
mean ± std per cell, t-test p-values between inits per fraction, a learning curve;
logged to MLflow (a parent run, a child run per fit) and published as Prefect
artifacts.  Completed fits are never redone.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

import mlflow
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.options import default_model_name, target_store_uri
from genesis_core.evaluation import learning_curve_plot, summarize, to_csv, to_markdown
from genesis_core.finetuning import PRIMARY_METRIC
from genesis_core.store import read_latest
from tasks.finetune import fit_one, register_fits
from tasks.settings import get_settings, root_scoped
from tasks.tracking import ensure_experiment, use_tracking

Task = Literal["ncc", "lcs", "ncs", "seg"]


def fit_dir(settings, store: str, version: int, **params: Any):
    key = hashlib.sha256(
        json.dumps({"store": store, "v": version, **params}, sort_keys=True).encode()
    ).hexdigest()
    return settings.local_root / "runs" / "finetune" / key[:16]


def _store(settings, task: str, dataset: str | None, store: str | None, label: str | None) -> str:
    if store:
        return store
    if dataset is None:
        raise ValueError("give --store or --dataset")
    return target_store_uri(settings.root_uri, dataset, task, label)


@flow(name="finetune", log_prints=True)
@root_scoped
def finetune_flow(
    task: Task,
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
    label: str | None = None,
) -> dict[str, Any]:
    """One fine-tune of ``init`` (scratch, genesis, models:/…, file:PATH) on ``task``; registered
    as ``model_name`` (default ``genesis-TASK``; ``genesis-seg-DATASET-LABEL`` for ``seg``,
    whose target store is found by ``label`` too)."""
    settings = get_settings(root)
    uri = _store(settings, task, dataset, store, label)
    version = read_latest(uri, settings.storage_options()).version
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
        task, uri, init, fraction, [fraction], seed, profile, steps, str(run_dir), experiment
    )
    name = model_name or default_model_name(task, dataset, label, uri)
    reg = register_fits([r], name, PRIMARY_METRIC[task], {"target_store_uri": uri})
    return {**r, **reg}


@flow(name="evaluate", log_prints=True)
@root_scoped
def evaluate_flow(
    task: Task,
    dataset: str | None = None,
    store: str | None = None,
    root: str | None = None,
    inits: str = "scratch,genesis",
    seeds: int = 3,
    label_fractions: str = "0.1,0.25,0.5,1.0",
    profile: Literal["tiny", "paper"] = "tiny",
    steps: int | None = None,
    experiment: str = "genesis-evaluate",
    model_name: str | None = None,
    register_models: bool = True,
    label: str | None = None,
) -> dict[str, Any]:
    """``label``: the target's label (``seg``), naming its store and model as in
    :func:`finetune_flow`."""
    settings = get_settings(root)
    uri = _store(settings, task, dataset, store, label)
    version = read_latest(uri, settings.storage_options()).version
    fractions = sorted(float(f) for f in label_fractions.split(","))
    init_list = [i.strip() for i in inits.split(",") if i.strip()]
    use_tracking(settings)
    exp_id = ensure_experiment(experiment, settings)
    metric = PRIMARY_METRIC[task]
    out_dir = fit_dir(
        settings,
        uri,
        version,
        task=task,
        inits=init_list,
        fractions=fractions,
        seeds=seeds,
        profile=profile,
        steps=steps,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    with mlflow.start_run(experiment_id=exp_id, run_name=f"evaluate-{task}") as parent:
        mlflow.log_params(
            {
                "task": task,
                "inits": inits,
                "seeds": seeds,
                "fractions": label_fractions,
                "profile": profile,
                "steps": steps,
                "target_store": uri,
            }
        )
        fits = [
            fit_one(task, uri, init, f, fractions, seed, profile, steps,
                    str(fit_dir(settings, uri, version, task=task, init=init, fraction=f, seed=seed,
                                profile=profile, steps=steps, fractions=fractions)),
                    experiment, parent.info.run_id)
            for init in init_list for f in fractions for seed in range(seeds)
        ]  # fmt: skip
        rows = summarize([{**r, "metric": r[metric]} for r in fits])
        table_md = to_markdown(rows, metric_name=metric)
        to_csv(rows, out_dir / "table.csv")
        (out_dir / "table.md").write_text(table_md, encoding="utf-8")
        learning_curve_plot(rows, out_dir / "learning_curve.png", metric)
        for name in ("table.csv", "table.md", "learning_curve.png"):
            mlflow.log_artifact(str(out_dir / name))
    create_markdown_artifact(
        markdown=f"# {task}: {metric} by init and label fraction\n\n{table_md}",
        key=f"evaluate-{task}",
        description="mean ± std over seeds; Welch and Student t-test p; seeds, test scans, positives",
    )
    create_table_artifact(
        table=[{k: v for k, v in r.items()} for r in rows], key=f"evaluate-{task}-table"
    )
    reg = (
        register_fits(
            fits,
            model_name or default_model_name(task, dataset, label, uri),
            metric,
            {"target_store_uri": uri},
        )
        if register_models
        else {}
    )
    get_run_logger().info("\n%s", table_md)
    return {
        "task": task,
        "metric": metric,
        "rows": rows,
        "markdown": table_md,
        "fits": fits,
        "out_dir": str(out_dir),
        "parent_run_id": parent.info.run_id,
        **reg,
    }
