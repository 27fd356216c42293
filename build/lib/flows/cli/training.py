"""Training commands: pre-train, build target tasks, fine-tune, evaluate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.table import Table

from flows.cli.base import (
    Profile,
    RootOpt,
    Sampling,
    TaskName,
    checked,
    command,
    run_flow,
    say,
    settings,
)
from flows.console import console

if TYPE_CHECKING:
    from tasks.contracts.evaluate import EvaluationResult
    from tasks.contracts.pretrain import PretrainResult
    from tasks.contracts.targets import TargetsResult


@command()
def pretrain(
    store: Annotated[str | None, typer.Option(help="cube store URI")] = None,
    dataset: Annotated[
        str | None, typer.Option(help="or: the dataset whose default store to use")
    ] = None,
    root: RootOpt = None,
    profile: Annotated[
        Profile, typer.Option(help="'tiny' (CPU minutes) or 'paper' (SPEC recipe)")
    ] = "tiny",
    steps: Annotated[
        int | None, typer.Option(min=1, help="optimizer steps (default: the profile's)")
    ] = None,
    transforms: Annotated[str, typer.Option(help="ablation: all, I&II, III&IV, ...")] = "all",
    mode: Annotated[
        Literal["fixed", "faithful"], typer.Option(help="'fixed' or 'faithful' (reference quirks)")
    ] = "fixed",
    seed: Annotated[int, typer.Option(help="training seed")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1 ...")] = "auto",
    resume: Annotated[bool, typer.Option(help="continue from the last checkpoint")] = False,
    experiment: Annotated[str, typer.Option(help="MLflow experiment")] = "genesis-pretrain",
    model_name: Annotated[str, typer.Option(help="registered model name")] = "genesis-unet3d",
    warm_start: Annotated[str | None, typer.Option(help="model URI to start from")] = None,
    gpus: Annotated[
        int, typer.Option(min=1, help="data-parallel processes under torchrun (one per GPU)")
    ] = 1,
    sampling: Annotated[
        Sampling,
        typer.Option(
            help="cube order: random (the paper's), blocks (scans in blocks of "
            "GENESIS_BLOCK_SCANS, one request per scan), auto (blocks on object stores)"
        ),
    ] = "auto",
    gate_dev: Annotated[
        list[str] | None,
        typer.Option(
            help="promotion's dev store: a target store URI or a task name of --dataset "
            "(ncc, seg:liver); repeatable (default GENESIS_GATE_DEV, else ncc if built)"
        ),
    ] = None,
    ungated: Annotated[
        bool, typer.Option(help="skip the transfer gate: promote on reference loss only")
    ] = False,
) -> None:
    """Pre-train the 3D U-Net by restoring corrupted cubes; track in MLflow; register the
    model; promote it to champion only if it passes the transfer gate."""
    report = run_pretrain(
        store=store,
        dataset=dataset,
        root=root,
        profile=profile,
        steps=steps,
        transforms=transforms,
        mode=mode,
        seed=seed,
        device=device,
        resume=resume,
        experiment=experiment,
        model_name=model_name,
        warm_start=warm_start,
        gpus=gpus,
        sampling=sampling,
        gate_dev=gate_dev,
        ungated=ungated,
    )
    print_pretrain(report)


def run_pretrain(**kw: Any) -> PretrainResult:
    """The pretrain flow's report; a run already finished and registered is only reported."""
    from flows import options, precheck

    s = settings(kw["root"])
    if kw["store"] is None and kw["dataset"] is None:
        raise typer.BadParameter("give --store or --dataset", param_hint="--store")
    store = kw["store"] or options.store_uri_for(s.root_uri, kw["dataset"])
    version = precheck.require_store(
        s.location(store), "run `genesis preprocess --dataset NAME` first"
    )
    plan = checked(
        "--transforms",
        lambda: options.pretrain_plan(
            s.local_root,
            store=store,
            manifest_version=version,
            profile=kw["profile"],
            steps=kw["steps"],
            transforms=kw["transforms"],
            mode=kw["mode"],
            seed=kw["seed"],
            warm_start=kw["warm_start"],
            gpus=kw["gpus"],
            sampling=kw["sampling"],
        ),
    )
    say(f"pretrain {kw['profile']} on {store} (manifest v{version})")
    done = None if kw["resume"] else precheck.finished_run(plan.run_dir)
    if done is not None:
        console.print(
            f"nothing to do: this store version was already trained with these parameters "
            f"(run {done.run_id}, registered {done.model_name} v{done.version})"
        )
        return done
    return run_flow("flows.pretrain:pretrain_flow", **kw)


def print_pretrain(r: PretrainResult) -> None:
    t = Table(title=f"pre-trained {r.model_name} v{r.version}")
    for c in ("steps", "first val loss", "best val loss", "champion", "promoted", "MLflow run"):
        t.add_column(c)
    first = r.first_val_loss
    t.add_row(
        str(r.steps),
        f"{first:.5f}" if first is not None else "-",
        f"{r.val_loss:.5f}",
        f"v{r.champion_version}",
        str(r.promoted),
        r.run_id,
    )
    console.print(t)
    if r.decision:
        console.print(r.decision)
    print_registry_hints(r.tracking_uri, r.model_name)


def print_registry_hints(tracking_uri: str, model_name: str) -> None:
    """Commands that work as printed, from any folder, without an activated venv.  A
    tracking URI's credentials are never printed: the hint names the variables instead."""
    import shlex
    import sys

    from genesis_core.io.storage import redact_uri

    uri = redact_uri(tracking_uri)
    console.print(f"browse it: {shlex.quote(sys.argv[0])} ui   (the MLflow UI on this data root)")
    console.print(
        f"load it:   MLFLOW_TRACKING_URI={shlex.quote(uri)} {shlex.quote(sys.executable)} "
        f"-c \"import mlflow; m = mlflow.pyfunc.load_model('models:/{model_name}@champion')\"",
        soft_wrap=True,
        highlight=False,
    )
    if uri != tracking_uri:
        console.print(
            "           (with MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD set: "
            "credentials are not printed)",
            soft_wrap=True,
            highlight=False,
        )


@command()
def targets(
    dataset: Annotated[str, typer.Option("--dataset", help="catalog name")],
    task: Annotated[
        TaskName,
        typer.Option(
            help="ncc (candidate cubes), lcs (liver pairs), ncs (nodule spheres), "
            "seg (pairs for --label of any labelled dataset)"
        ),
    ],
    root: RootOpt = None,
    store: Annotated[
        str | None, typer.Option(help="target store URI (default ROOT/targets/DATASET-TASK.zarr)")
    ] = None,
    spacing: Annotated[str, typer.Option(help="X,Y,Z mm, one value, or 'native'")] = "1,1,1",
    cube: Annotated[str, typer.Option(help="cube size X,Y,Z voxels")] = "64,64,32",
    samples_per_scan: Annotated[
        int, typer.Option(min=1, help="segmentation samples per scan")
    ] = 32,
    include_tumour: Annotated[bool, typer.Option(help="lcs: label 2 counts as foreground")] = False,
    label: Annotated[
        str | None,
        typer.Option(help="seg: label names from dataset.json, or values (e.g. spleen; 1,2)"),
    ] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="local Dask workers")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address")] = None,
    force: Annotated[bool, typer.Option(help="rebuild every scan")] = False,
) -> None:
    """Build a target-task dataset (fine-tuning samples) from a catalog, in parallel on Dask."""
    report = run_targets(
        dataset=dataset,
        task=task,
        root=root,
        store=store,
        spacing=spacing,
        cube=cube,
        samples_per_scan=samples_per_scan,
        include_tumour=include_tumour,
        label=label,
        workers=workers,
        scheduler=scheduler,
        force=force,
    )
    if report is not None:
        print_targets(report, root)


def run_targets(**kw: Any) -> TargetsResult | None:
    from flows import options, precheck
    from genesis_core import catalog
    from genesis_core.target_tasks import target_task

    params = {
        **kw,
        "spacing": checked("--spacing", options.parse_spacing, kw["spacing"]),
        "cube": checked("--cube", options.parse_cube, kw["cube"]),
        "label": kw["label"].split(",") if kw["label"] else None,
    }
    if target_task(kw["task"]).needs_label and not kw["label"]:
        raise typer.BadParameter(
            f"task {kw['task']} needs --label (a name from dataset.json or a value)",
            param_hint="--label",
        )
    s = settings(kw["root"])
    catalog_uri = catalog.catalog_uri(s.root_uri, kw["dataset"])
    store = kw["store"] or checked(
        "--label", options.target_store_uri, s.root_uri, kw["dataset"], kw["task"], kw["label"]
    )
    say(f"targets {kw['task']} from {kw['dataset']} → {store}")
    why = precheck.targets_noop(s.location(catalog_uri), s.location(store), kw["task"], kw["force"])
    if why:
        console.print(f"nothing to do: {why}")
        return None
    return run_flow("flows.targets:targets_flow", **params)


def print_targets(r: TargetsResult, root: str | None = None) -> None:
    from tasks.privacy import shown

    console.print(
        f"{r.task} targets: {r.done} scans built, {len(r.failed)} failed, "
        f"{len(r.empty)} empty; {r.samples_in_store} samples in {r.scans_in_store} "
        f"scans → {r.store_uri}"
    )
    for f in r.failed:
        console.print(f"[red]failed[/] {shown(f.scan_id, root)}: {f.reason}", soft_wrap=True)


def _target_store(s, task: str, dataset: str | None, store: str | None, label: str | None) -> str:
    from flows import options, precheck

    if store is None and dataset is None:
        raise typer.BadParameter("give --store or --dataset", param_hint="--store")
    uri = store or checked("--label", options.target_store_uri, s.root_uri, dataset, task, label)
    build = f"--dataset {dataset or 'NAME'} --task {task}" + (f" --label {label}" if label else "")
    precheck.require_store(s.location(uri), f"run `genesis targets {build}` first")
    return uri


@command()
def finetune(
    task: Annotated[TaskName, typer.Option(help="ncc, lcs, ncs or seg")],
    init: Annotated[
        str, typer.Option(help="scratch, genesis, models:/NAME@ALIAS or file:PATH")
    ] = "genesis",
    dataset: Annotated[str | None, typer.Option(help="dataset whose target store to use")] = None,
    store: Annotated[str | None, typer.Option(help="target store URI")] = None,
    root: RootOpt = None,
    fraction: Annotated[
        float, typer.Option(min=0.001, max=1, help="fraction of training scans")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="seed")] = 0,
    profile: Annotated[Profile, typer.Option(help="tiny or paper")] = "tiny",
    steps: Annotated[int | None, typer.Option(min=1, help="optimizer steps")] = None,
    label: Annotated[
        str | None, typer.Option(help="seg: the label the target store was built for")
    ] = None,
) -> None:
    """Fine-tune one model on a target task and register it."""
    s = settings(root)
    uri = _target_store(s, task, dataset, store, label)
    say(f"finetune {task} from {init} on {uri} ({fraction:g} of the training scans)")
    r = run_flow(
        "flows.finetune:finetune_flow",
        task=task,
        init=init,
        dataset=dataset,
        store=uri,
        root=root,
        fraction=fraction,
        seed=seed,
        profile=profile,
        steps=steps,
        label=label.split(",") if label else None,
    )
    scores = {k: round(v, 4) for k, v in r.fit.scores.items()}
    val = {k: round(v, 4) for k, v in r.fit.val_scores.items()}
    console.print(
        f"{task} fine-tuned from {init}: validation {val}, test {scores}; "
        f"registered {r.registration.model_name} v{r.registration.versions[-1]}"
    )


def _fractions(text: str) -> list[float]:
    values = [float(v) for v in text.split(",")]
    if not values or not all(0 < v <= 1 for v in values):
        raise ValueError(f"label fractions must be in (0, 1], got {text!r}")
    return values


def _inits(text: str) -> list[str]:
    from flows.options import parse_list

    inits = parse_list(text)
    bad = [  # A|B|C: one per seed (k pre-training seeds as a variance source)
        i
        for init in inits
        for i in init.split("|")
        if i not in ("scratch", "genesis") and not i.startswith(("models:/", "file:"))
    ]
    if not inits or bad:
        raise ValueError(
            f"inits are scratch, genesis, models:/NAME@ALIAS or file:PATH (A|B|C: one per "
            f"seed), got {bad or text!r}"
        )
    return inits


@command()
def evaluate(
    task: Annotated[TaskName, typer.Option(help="ncc, lcs, ncs or seg")],
    dataset: Annotated[str | None, typer.Option(help="dataset whose target store to use")] = None,
    store: Annotated[str | None, typer.Option(help="target store URI")] = None,
    root: RootOpt = None,
    inits: Annotated[
        str,
        typer.Option(
            help="comma-separated inits; A|B|C uses one per seed (k pre-training seeds); "
            "scratch,scratch is an A/A run"
        ),
    ] = "scratch,genesis",
    seeds: Annotated[int, typer.Option(min=1, help="seeds per cell")] = 5,
    label_fractions: Annotated[
        str, typer.Option(help="comma-separated fractions")
    ] = "0.1,0.25,0.5,1.0",
    profile: Annotated[Profile, typer.Option(help="tiny or paper")] = "tiny",
    steps: Annotated[int | None, typer.Option(min=1, help="optimizer steps per fit")] = None,
    label: Annotated[
        str | None, typer.Option(help="seg: the label the target store was built for")
    ] = None,
) -> None:
    """Scratch vs Genesis (or any inits) over label fractions and seeds: paired tests with CIs."""
    print_evaluate(
        run_evaluate(
            task=task,
            dataset=dataset,
            store=store,
            root=root,
            inits=inits,
            seeds=seeds,
            label_fractions=label_fractions,
            profile=profile,
            steps=steps,
            label=label,
        )
    )


def run_evaluate(**kw: Any) -> EvaluationResult:
    fractions = checked("--label-fractions", _fractions, kw["label_fractions"])
    inits = checked("--inits", _inits, kw["inits"])
    label = kw.get("label")
    s = settings(kw["root"])
    uri = _target_store(s, kw["task"], kw["dataset"], kw["store"], label)
    say(
        f"evaluate {kw['inits']} on {kw['task']} ({uri}), fractions {kw['label_fractions']}, "
        f"{kw['seeds']} seeds"
    )
    params = {
        **kw,
        "store": uri,
        "inits": inits,
        "label_fractions": fractions,
        "label": label.split(",") if label else None,
    }
    return run_flow("flows.evaluate:evaluate_flow", **params)


def print_evaluate(r: EvaluationResult) -> None:
    console.print(r.markdown)
    console.print(f"table, CSV and learning curve: {r.out_dir}")
    reg = r.registration
    if reg is not None and reg.champion_version:
        console.print(
            f"registered {reg.model_name} versions {list(reg.versions)}; "
            f"champion v{reg.champion_version} ({reg.champion_init}), chosen by "
            f"{reg.chosen_by} = {reg.chosen_score:.3f} (validation; test scores are reported only)"
        )
