"""Prefect tasks for fine-tuning: resolve an initialisation, fit one model, register it.

Every fit writes ``result.json`` into a folder keyed by its inputs, so an
interrupted evaluation resumes without redoing completed fits.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import torch
from mlflow.models.signature import ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types.schema import Schema, TensorSpec
from prefect import task
from prefect.cache_policies import NO_CACHE

from genesis_core.evaluation import nested_fractions
from genesis_core.finetuning import WithProbabilities, build_model, finetune_profile, fit
from genesis_core.io.storage import Location
from genesis_core.models import read_state_dict
from genesis_core.store.manifest import read_version
from genesis_core.target_tasks import target_task
from genesis_core.targets import TargetStore
from genesis_core.training import load_checkpoint
from tasks import model_card, registry
from tasks.contracts.finetune import FitResult, FitsRegistration
from tasks.progress import with_progress
from tasks.settings import get_settings
from tasks.tracking import CHAMPION, MlflowSink, ensure_experiment, use_tracking, version_for_run

GENESIS_DEFAULT = "models:/genesis-unet3d@champion"
INIT_COPY_SEED = 1_000_003  # seed offset of an init's copy (scratch#2): far from other seeds


def init_copy(init: str) -> tuple[str, int]:
    """``scratch#2`` → (``scratch``, 1): a repeated init of an A/A comparison; the copy index
    offsets the seed of the weights that the init does not provide (head, decoder, or all
    of them for scratch), never the label subset or the data order."""
    base, sep, k = init.rpartition("#")
    if sep and k.isdigit() and int(k) >= 2:
        return base, int(k) - 1
    return init, 0


def for_seed(init: str, seed: int) -> str:
    """One init of ``A|B|C`` per seed (seed ``s`` → alternative ``s mod k``): pre-trained
    models of k pre-training seeds, so the evaluation's seeds sample pre-training too."""
    options = [o.strip() for o in init.split("|") if o.strip()]
    return options[seed % len(options)] if options else init


def resolve_init(
    init: str, root: str | None = None
) -> tuple[dict[str, torch.Tensor] | None, dict[str, str]]:
    """``scratch`` → None; ``genesis`` → the registered champion; ``models:/…``; ``file:PATH``.

    Returns the weights and their lineage (tags for the fine-tuned version): the registered
    name, version and run id an alias meant at this moment, or the file and its SHA-256."""
    init = init_copy(init)[0]
    if init == "scratch":
        return None, {}
    if init == "genesis":
        init = GENESIS_DEFAULT
    if init.startswith("file:"):
        path = init.removeprefix("file:")
        return read_state_dict(path), {"init_file": path, "init_file_sha256": _sha256(path)}
    if init.startswith(("models:/", "runs:/")):
        use_tracking(get_settings(root))
        ref = registry.resolve(init)  # pin the alias once: weights and tags then agree
        pinned = f"models:/{ref['name']}/{ref['version']}" if ref["name"] else init
        lineage = {
            "init_model_name": ref["name"],
            "init_model_version": ref["version"],
            "init_run_id": ref["run_id"],
        }
        return registry.load_state_dict(pinned), {k: v for k, v in lineage.items() if v}
    raise ValueError(
        f"unknown init {init!r}: use scratch, genesis, models:/NAME@ALIAS or file:PATH"
    )


def _sha256(path: str) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def readers(
    store_uri: str,
    fraction: float,
    fractions: list[float],
    seed: int = 0,
    root: str | None = None,
    version: int | None = None,
):
    """Train (the ``fraction`` subset), validation and test readers of target store
    ``version`` (the run's, fixed when it started; ``None``: the latest).

    The label subset is drawn per ``seed`` (nested across fractions within a seed, the same
    for every init), so repeated seeds sample which labels were available too.
    """
    where = get_settings(root).location(store_uri)
    store = TargetStore(where, manifest=None if version is None else read_version(where, version))
    sp = store.split()
    if not (len(sp["train"]) and len(sp["val"]) and len(sp["test"])):
        raise ValueError(
            f"{store_uri}: need train, validation and test scans, got "
            f"{ {k: len(v.scan_ids) for k, v in sp.items()} }"
        )
    subsets = nested_fractions(sp["train"].scan_ids, sorted(set(fractions) | {fraction}), seed=seed)
    return sp["train"].subset(subsets[fraction]), sp["val"], sp["test"]


@task(name="finetune-fit", cache_policy=NO_CACHE)
def fit_one(
    task_name: str,
    *,
    store_uri: str,
    init: str,
    fraction: float,
    fractions: list[float],
    seed: int,
    profile: str,
    steps: int | None,
    run_dir: str,
    experiment: str,
    parent_run_id: str | None = None,
    root: str | None = None,
    store_version: int | None = None,
) -> FitResult:
    """One fit (init × fraction × seed) on target store version ``store_version`` (every fit
    of a run on the same one), scored on the test split; skipped if already done."""
    path = Path(run_dir)
    if (path / "result.json").exists():
        return FitResult.from_dict(json.loads((path / "result.json").read_text()))
    use_tracking(get_settings(root))
    exp_id = ensure_experiment(experiment, get_settings(root))
    train_r, val_r, test_r = readers(store_uri, fraction, fractions, seed, root, store_version)
    prof = finetune_profile(profile, task_name, steps, seed)
    active = mlflow.active_run()
    nested = active is not None
    tags = {"mlflow.parentRunId": parent_run_id} if (parent_run_id and not nested) else {}
    with mlflow.start_run(
        experiment_id=exp_id, run_name=f"{init}-f{fraction}-s{seed}", tags=tags, nested=nested
    ) as run:
        sink = with_progress(MlflowSink(run.info.run_id), f"fine-tune {init}", prof.loop.max_steps)
        sink.log_params(
            {
                "task": task_name,
                "init": init,
                "fraction": fraction,
                "seed": seed,
                "profile": profile,
                "train_scans": len(train_r.scan_ids),
                "train_samples": len(train_r),
            }
        )  # the loop's own parameters are logged by the loop, once
        init_state, lineage = resolve_init(for_seed(init, seed), root=root)
        mlflow.set_tags(lineage)
        _, outcome = fit(
            task_name,
            train_r,
            val_r,
            test_r,
            init_state,
            prof,
            path / "checkpoints",
            sink,
            init_seed=seed + INIT_COPY_SEED * init_copy(init)[1],
        )
        result = FitResult.from_dict(
            {
                **outcome,
                "task": task_name,
                "init": init,
                "fraction": fraction,
                "seed": seed,
                "run_id": run.info.run_id,
                "checkpoint": str(path / "checkpoints" / "best.pt"),
                "width": prof.width,
                "network": prof.network,
                "train_scans": len(train_r.scan_ids),
                "init_lineage": lineage,
            }
        )
        mlflow.log_metrics(
            {
                **{f"test_{k}": v for k, v in result.scores.items()},
                **{f"val_{k}": v for k, v in result.val_scores.items()},
            }
        )
    # atomic: a fit killed while writing is redone, never read back half-written
    Location.of(path / "result.json").write_bytes_atomic(
        json.dumps(result.to_dict(), indent=1, default=float).encode()
    )
    return result


def _signature(task_name: str) -> ModelSignature:
    """Cubes (N, 1, D, H, W) float32 → (N,) for ``ncc``, else masks (N, 1, D, H, W); the input
    is unnamed so pyfunc passes the array itself (see ``tasks.pretrain.SIGNATURE``)."""
    out_shape = target_task(task_name).output_shape
    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 1, -1, -1, -1))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), out_shape, "probabilities")]),
    )


@task(name="register-finetuned", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=3)
def register_fits(
    fits: list[FitResult],
    model_name: str,
    metric: str,
    tags: dict[str, str],
    root: str | None = None,
) -> FitsRegistration:
    """Register every fit as a version; ``champion`` → the full-label fit with the best
    **validation** ``metric`` (:func:`choose_champion`).  Test scores are reported (metrics and
    tags of each version) and never choose: a champion picked by its test score would carry
    an upward-biased score, and the test set would test nothing."""
    use_tracking(get_settings(root))
    client = MlflowClient()
    versions = []
    for r in fits:
        mv = version_for_run(model_name, r.run_id)
        versions.append((r, mv or _register_fit(r, model_name, tags)))
    best = choose_champion(fits, metric)
    version = next((v for r, v in versions if r is best), None)
    if best is not None and version is not None:
        client.set_registered_model_alias(model_name, CHAMPION, version.version)
        client.set_model_version_tag(model_name, version.version, "chosen_by", f"val_{metric}")
    return FitsRegistration(
        model_name=model_name,
        versions=tuple(int(v.version) for _, v in versions),
        champion_version=int(version.version) if version is not None else None,
        champion_init=best.init if best is not None else None,
        chosen_by=f"val_{metric}" if best is not None else "",
        chosen_score=best.val_score(metric) if best is not None else None,
    )


def choose_champion(fits: list[FitResult], metric: str) -> FitResult | None:
    """The fit with the best validation ``metric`` among those with the most labels; None
    when no such fit has a validation score (the test score is never a fallback)."""
    if not fits:
        return None
    top = max(f.fraction for f in fits)
    scored = [f for f in fits if f.fraction == top and not math.isnan(f.val_score(metric))]
    return max(scored, key=lambda f: f.val_score(metric)) if scored else None


def _register_fit(r: FitResult, model_name: str, tags: dict[str, str]):
    """Log the fit's weights (safetensors) and its serving model (``pt2``: cubes →
    probabilities) to its run; register a version tagged with its init's lineage."""
    model, _ = build_model(r.task, r.width, None, r.network)
    model.load_state_dict(load_checkpoint(Path(r.checkpoint))["model"])
    with mlflow.start_run(run_id=r.run_id), tempfile.TemporaryDirectory() as tmp:
        registry.log_weights(model, r.task, Path(tmp))
        info = registry.log_model(WithProbabilities(model.eval(), r.task), _signature(r.task))
    scores = {f"test_{k}": f"{v:.6g}" for k, v in r.scores.items()}
    scores |= {f"val_{k}": f"{v:.6g}" for k, v in r.val_scores.items()}
    fit_tags = {
        **tags,
        "init": r.init,
        "fraction": str(r.fraction),
        "seed": str(r.seed),
        **scores,
        **r.init_lineage,
    }
    mv = registry.register_version(info, r.run_id, model_name, fit_tags)
    card = model_card.finetuned(
        fit_tags, r.task, r.init, r.fraction, r.seed, r.val_scores, r.scores, r.train_scans
    )
    MlflowClient().update_model_version(model_name, mv.version, description=card)
    return mv
