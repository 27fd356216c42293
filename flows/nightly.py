"""The nightly flow: new scans → appended cubes → warm-started pre-training → registry.

ingest (new/changed files only) → preprocess only the new scans into the
existing store → pre-train from the current ``champion`` (or from scratch) →
register a ``candidate``, promote to ``champion`` only if better on the fixed
validation set → a Markdown report as a Prefect artifact.  With no new scans it
stops early and says so.  One nightly at a time per store (a concurrency limit).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from flows.ingest import ingest_flow
from flows.options import Cube, Source, Spacing, build_config, private, store_uri_for
from flows.preprocess import preprocess_flow
from flows.pretrain import pretrain_flow
from genesis_core.store import read_latest
from genesis_core.store.manifest import check_same_config
from tasks.contracts.nightly import NightlyReport
from tasks.contracts.pretrain import PretrainOutcome
from tasks.locks import store_lock
from tasks.pretrain import registered_outcome
from tasks.settings import get_settings
from tasks.tracking import CHAMPION, alias_version, trained_on, use_tracking


@flow(name="nightly", log_prints=True)
def nightly_flow(
    sources: list[Source],
    dataset: str = "nightly",
    root: str | None = None,
    store: str | None = None,
    profile: Literal["tiny", "paper"] = "tiny",
    steps: int | None = None,
    full_retrain: bool = False,
    model_name: str = "genesis-unet3d",
    experiment: str = "genesis-nightly",
    spacing: Spacing | None = (1.0, 1.0, 1.0),
    cube: Cube = (64, 64, 32),
    cubes_per_scan: int = 32,
    seed: int = 0,
    scheduler: str | None = None,
    workers: int | None = None,
    lock_timeout_seconds: float = 3600,
    pretrain_deployment: str | None = None,
    ungated: bool = False,
    force: bool = False,
    resume: bool = True,
) -> NightlyReport:
    """Trains whenever the store's version is one no registered version of ``model_name``
    was trained on (new scans, or cubes a killed nightly committed but never trained on).
    A store built with other cube options is refused before anything is ingested;
    ``force`` rebuilds it with these.  ``resume`` (default) continues a killed run's checkpoint when
    its parameters match.  The candidate is promoted only through the transfer gate (``ncc`` of ``dataset``
    when built, or ``GENESIS_GATE_DEV``); ``ungated`` skips it.  ``pretrain_deployment`` (e.g. ``pretrain/pretrain``) sends the GPU stage to that
    deployment's work pool and waits for it; unset, pre-training runs in this flow."""
    t0 = time.perf_counter()
    settings = get_settings(root)
    store_uri = store or store_uri_for(settings.root_uri, dataset)
    if not force:  # refuse before ingest changes the catalog, not after
        wanted = build_config(spacing, cube, cubes_per_scan, seed, "lung", "auto", "default")
        existing = read_latest(settings.location(store_uri))
        if existing.version:
            check_same_config(store_uri, existing.config, wanted.to_dict())
    with store_lock(store_uri, lock_timeout_seconds):
        ingests = [ingest_flow(source=private(s), dataset=dataset, root=root) for s in sources]
        pre = preprocess_flow(
            dataset=dataset,
            root=root,
            store=store_uri,
            spacing=spacing,
            cube=cube,
            cubes_per_scan=cubes_per_scan,
            seed=seed,
            workers=workers,
            scheduler=scheduler,
            force=force,
        )
        use_tracking(settings)
        champion = alias_version(model_name, CHAMPION)
        report = NightlyReport(ingest=tuple(ingests), preprocess=pre, trained=False)
        done = trained_on(model_name, store_uri, pre.manifest_version)
        if champion is not None and done is not None and not full_retrain:
            report = replace(
                report,
                message=f"no new scans: nothing to train (store v{pre.manifest_version} is what "
                f"{model_name} v{done} trained on)",
            )
        else:
            warm = (
                None if (full_retrain or champion is None) else f"models:/{model_name}@{CHAMPION}"
            )
            # No catalog_sha256: the pretrain flow derives it from the store's manifest.
            params = dict(
                store=store_uri,
                dataset=dataset,
                root=root,
                profile=profile,
                steps=steps,
                seed=seed,
                experiment=experiment,
                model_name=model_name,
                warm_start=warm,
                ungated=ungated,
                resume=resume,
            )
            report = replace(report, pretrain=_pretrain(params, pretrain_deployment), trained=True)
    report = replace(report, wall_seconds=round(time.perf_counter() - t0, 1))
    create_markdown_artifact(
        markdown=render(report, model_name),
        key="nightly-report",
        description=f"nightly pre-training on {dataset}",
    )
    get_run_logger().info(
        report.message or f"trained model v{report.pretrain.version if report.pretrain else '?'}"
    )
    return report


def _pretrain(params: dict[str, Any], deployment: str | None) -> PretrainOutcome:
    if deployment is None:
        return pretrain_flow(**params)
    from prefect.deployments import run_deployment

    run = run_deployment(deployment, parameters=params, timeout=None)
    if not run.state.is_completed():
        raise RuntimeError(
            f"pre-training deployment {deployment} ended {run.state.type.value}: {run.state.message}"
        )
    # Flow results are not persisted (and the GPU worker may be another machine), so the
    # outcome is read back from the registry, where the version carries the flow run id.
    return registered_outcome(params["model_name"], str(run.id), params["store"])


def render(r: NightlyReport, model_name: str) -> str:
    added = sum(i.read for i in r.ingest)
    quarantined = sum(i.quarantined for i in r.ingest)
    pre = r.preprocess
    lines = [
        "# Genesis nightly",
        "",
        "| scans read | quarantined (catalog) | scans preprocessed | cubes appended | cubes in store |",
        "|---|---|---|---|---|",
        f"| {added} | {quarantined} | {pre.done} | {pre.cubes_written} | {pre.cubes_in_store} |",
        "",
    ]
    p = r.pretrain
    if not r.trained or p is None:
        lines.append(f"**{r.message}** (store manifest v{pre.manifest_version}).")
        return "\n".join(lines)
    before = p.champion_val_loss
    lines += [
        f"Model **{model_name} v{p.version}** (alias `candidate`); champion is now "
        f"**v{p.champion_version}** ({'promoted' if p.promoted else 'kept'}).",
        "",
        *([f"Decision: {p.decision}", ""] if p.decision else []),
        "| validation loss before (champion) | after (new model) |",
        "|---|---|",
        f"| {before if before is None else f'{before:.5f}'} | {p.val_loss:.5f} |",
        "",
        f"- MLflow run: `{p.run_id}` at `{p.tracking_uri}`",
        f"- Model version: `models:/{model_name}/{p.version}`",
        f"- Cube store: `{p.store_uri}`",
    ]
    return "\n".join(lines)
