"""Prefect tasks of the evaluation experiment: its MLflow parent run and its files.

The evaluate flow only wires: it opens the parent run here, runs the fits
(:func:`tasks.finetune.fit_one`, each a child run by ``mlflow.parentRunId``), and closes
the run here with the table, the CSV and the learning curve logged to it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from mlflow.entities import Param
from mlflow.tracking import MlflowClient
from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from genesis_core.evaluation import learning_curve_plot, summarize, to_csv, to_markdown
from genesis_core.io.storage import Location
from tasks.contracts.finetune import FitResult
from tasks.settings import Settings
from tasks.tracking import ensure_experiment, use_tracking

FILES = ("table.csv", "table.md", "learning_curve.png")


def fit_dir(settings: Settings, store: str, version: int, **params: Any) -> Path:
    """The local folder of one fit or one experiment, keyed by everything that decides it,
    so a completed one is found again and never redone."""
    key = hashlib.sha256(
        json.dumps({"store": store, "v": version, **params}, sort_keys=True).encode()
    ).hexdigest()
    return settings.local_root / "runs" / "finetune" / key[:16]


@task(name="open-evaluation-run", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=3)
def open_evaluation_run(
    settings: Settings, experiment: str, run_name: str, params: dict[str, Any]
) -> str:
    """The parent run of an evaluation (not made active: fits attach to it by id)."""
    use_tracking(settings)
    client = MlflowClient()
    run = client.create_run(ensure_experiment(experiment, settings), run_name=run_name)
    client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])
    return run.info.run_id


@task(name="close-evaluation-run", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=3)
def close_evaluation_run(
    run_id: str, fits: list[FitResult], metric: str, out_dir: str
) -> tuple[list[dict[str, Any]], str]:
    """Summarise the fits (mean ± std, t-tests), write and log the table, the CSV and the
    learning curve, and end the parent run; returns (rows, Markdown table)."""
    rows = summarize([{**r.to_dict(), "metric": r.score(metric)} for r in fits])
    table_md = to_markdown(rows, metric_name=metric)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    to_csv(rows, folder / "table.csv")
    Location.of(folder / "table.md").write_bytes_atomic(table_md.encode("utf-8"))
    learning_curve_plot(rows, folder / "learning_curve.png", metric)
    client = MlflowClient()
    for name in FILES:
        client.log_artifact(run_id, str(folder / name))
    client.set_terminated(run_id, "FINISHED")
    return rows, table_md


def fail_evaluation_run(run_id: str) -> None:
    """Mark the parent run failed (the flow failed before closing it).  Best effort: when
    MLflow itself is what failed, the flow's own error is the one to report."""
    try:
        MlflowClient().set_terminated(run_id, "FAILED")
    except Exception:  # noqa: BLE001 - the caller re-raises the real error
        logging.getLogger(__name__).warning("could not mark MLflow run %s failed", run_id)


@task(name="publish-evaluation", cache_policy=NO_CACHE)
def publish_evaluation(task: str, metric: str, rows: list[dict[str, Any]], table_md: str) -> None:
    """The table as Prefect artifacts: Markdown for reading, a table for sorting."""
    create_markdown_artifact(
        markdown=f"# {task}: {metric} by init and label fraction\n\n{table_md}",
        key=f"evaluate-{task}",
        description="mean ± std over seeds; Welch and Student t-test p; seeds, test scans, positives",
    )
    create_table_artifact(table=[dict(r) for r in rows], key=f"evaluate-{task}-table")
