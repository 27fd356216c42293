"""The ``genesis`` command line: every command calls the same Prefect flows a deployment runs.

Flows are imported inside the commands so that ``genesis --help`` is instant
and the environment defaults below are in place before Prefect loads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Models Genesis pipeline: synthesise, ingest, preprocess, pre-train, fine-tune, evaluate.",
)
synth_app = typer.Typer(no_args_is_help=True, help="Write synthetic CT datasets in real layouts.")
app.add_typer(synth_app, name="synth")
store_app = typer.Typer(no_args_is_help=True, help="Check and tidy cube and target stores.")
app.add_typer(store_app, name="store")
console = Console()

Sampling = Literal["auto", "random", "blocks"]

RootOpt = Annotated[
    str | None,
    typer.Option(
        "--root", help="Data root (path or s3://); default GENESIS_ROOT or ./genesis_data"
    ),
]


def quiet_defaults() -> None:
    """Nothing phones home; Prefect's own chatter stays at WARNING unless asked for."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # Prefect's own logs (a failed run's traceback among them) only with --verbose: the
    # commands print their own one-line errors and results.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    if verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    quiet_defaults()


@synth_app.command("luna16")
def synth_luna16(
    out: Path,
    scans: Annotated[int, typer.Option(help="number of scans")] = 10,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    size: Annotated[str, typer.Option(help="volume size X,Y,Z in voxels")] = "128,128,96",
) -> None:
    """LUNA16 layout: subsetK/<uid>.mhd+.raw, annotations.csv, candidates.csv."""
    from genesis_core.synth import write_luna16

    write_luna16(out, scans=scans, seed=seed, size_xyz=_triple(size, int))
    console.print(f"wrote {scans} synthetic LUNA16 scans to {out}")


@synth_app.command("lits")
def synth_lits(
    out: Path,
    scans: Annotated[int, typer.Option(help="number of scans")] = 4,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    size: Annotated[str, typer.Option(help="volume size X,Y,Z in voxels")] = "128,128,96",
) -> None:
    """LiTS layout: volume-N.nii.gz + segmentation-N.nii.gz (1 liver, 2 tumour)."""
    from genesis_core.synth import write_lits

    write_lits(out, scans=scans, seed=seed, size_xyz=_triple(size, int))
    console.print(f"wrote {scans} synthetic LiTS scans to {out}")


def _triple(text: str, kind: type) -> tuple:
    parts = [kind(p) for p in text.split(",")]
    if len(parts) != 3:
        raise typer.BadParameter(f"need three comma-separated values, got {text!r}")
    return tuple(parts)


@app.command()
def ingest(
    source: Annotated[str, typer.Argument(help="local folder or s3:// prefix")],
    dataset: Annotated[str | None, typer.Option(help="catalog name (default: folder name)")] = None,
    root: RootOpt = None,
    force: Annotated[bool, typer.Option(help="re-read every scan")] = False,
) -> None:
    """Catalog the scans under SOURCE (LUNA16, LiTS, MSD, DICOM tree or plain folder)."""
    report = _run_ingest(source, dataset, root, force)
    print_ingest(report)


def _run_ingest(source: str, dataset: str | None, root: str | None, force: bool) -> dict[str, Any]:
    from flows.ingest import ingest_flow
    from genesis_core.io import storage

    if not storage.is_remote(source) and not Path(source).is_dir():
        console.print(f"[red]error:[/] SOURCE {source} is not a folder")
        raise typer.Exit(2)
    return _run(ingest_flow, source=source, dataset=dataset, root=root, force=force)


def print_ingest(report: dict[str, Any]) -> None:
    t = Table(title=f"catalog {report['dataset']} ({report['layout']} layout)")
    for col in ("scans", "ok", "quarantined", "read this run", "changed", "formats"):
        t.add_column(col)
    fmts = ", ".join(f"{k}: {v}" for k, v in report["by_format"].items())
    t.add_row(*(str(report[k]) for k in ("scans", "ok", "quarantined", "read", "changed")), fmts)
    console.print(t)
    if report["quarantine"]:
        q = Table(title="quarantined")
        q.add_column("scan")
        q.add_column("reason")
        for r in report["quarantine"]:
            q.add_row(r["scan_id"][-40:], r["reason"])
        console.print(q)
    for a in report.get("annotations", []):
        if "error" in a:
            console.print(f"[red]{a['kind']}:[/] {a['error']}")
        else:
            console.print(
                f"{a['kind']}: {a['rows']} rows, {a['orphans']} without a scan, "
                f"{len(a['invalid'])} invalid → {a['uri']}"
            )
    console.print(f"catalog: {report['catalog_uri']}")


@app.command()
def preprocess(
    dataset: Annotated[str, typer.Option("--dataset", help="catalog name")],
    root: RootOpt = None,
    store: Annotated[
        str | None, typer.Option(help="cube store URI (default ROOT/stores/DATASET.zarr)")
    ] = None,
    spacing: Annotated[str, typer.Option(help="X,Y,Z mm, one value, or 'native'")] = "1,1,1",
    cube: Annotated[
        str, typer.Option(help="cube size X,Y,Z voxels (each divisible by 8)")
    ] = "64,64,32",
    cubes_per_scan: Annotated[int, typer.Option(help="cubes per scan at most")] = 32,
    seed: Annotated[int, typer.Option(help="global seed (cubes depend on seed and scan id)")] = 0,
    acceptance: Annotated[str, typer.Option(help="'lung' (SPEC test) or 'none'")] = "lung",
    workers: Annotated[int | None, typer.Option(help="local Dask workers (default: cores)")] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address to attach to")
    ] = None,
    force: Annotated[bool, typer.Option(help="recompute every scan")] = False,
    border: Annotated[
        str, typer.Option(help="candidate borders X,Y,Z voxels, or 'auto' (scaled to the scan)")
    ] = "auto",
    preset: Annotated[
        str,
        typer.Option(help="'paper': the reference's cubes (native spacing, borders 100,100,30)"),
    ] = "default",
) -> None:
    """Resample, window and cut cubes into a Zarr cube store, in parallel on Dask."""
    print_preprocess(
        _run_preprocess(
            dataset=dataset,
            root=root,
            store=store,
            spacing=spacing,
            cube=cube,
            cubes_per_scan=cubes_per_scan,
            seed=seed,
            acceptance=acceptance,
            workers=workers,
            scheduler=scheduler,
            force=force,
            border=border,
            preset=preset,
        )  # fmt: skip
    )


def _run_preprocess(**kw: Any) -> dict[str, Any]:
    from flows.preprocess import preprocess_flow

    return _run(preprocess_flow, **kw)


def print_preprocess(r: dict[str, Any]) -> None:
    t = Table(title=f"cube store for {r['dataset']}")
    cols = (
        "planned",
        "done",
        "failed",
        "empty",
        "cubes written",
        "scans in store",
        "cubes in store",
        "store MB",
        "wall s",
        "scans/s",
    )
    for c in cols:
        t.add_column(c)
    t.add_row(
        str(r["planned"]),
        str(r["done"]),
        str(len(r["failed"])),
        str(len(r["empty"])),
        str(r["cubes_written"]),
        str(r["scans_in_store"]),
        str(r["cubes_in_store"]),
        f"{r['store_bytes'] / 1e6:.1f}",
        f"{r['wall_seconds']:.1f}",
        f"{r['scans_per_second']:.2f}",
    )
    console.print(t)
    for f in r["failed"]:
        console.print(f"[red]failed[/] {f['scan_id']}: {f['reason']}")
    for e in r["empty"]:
        console.print(f"[yellow]no cubes[/] {e['scan_id']}: {e['reason']}")
    console.print(f"store: {r['store_uri']} (manifest v{r['manifest_version']})")


@app.command()
def inspect(
    store: Annotated[str, typer.Argument(help="cube store URI")],
    out: Annotated[
        Path | None, typer.Option(help="montage PNG path (default: inspect.png in the cwd)")
    ] = None,
    n: Annotated[int, typer.Option(help="cubes in the montage")] = 6,
    seed: Annotated[int, typer.Option(help="which random cubes")] = 0,
) -> None:
    """Summarise a cube store and save a montage of random cubes (three mid-slices each)."""
    import numpy as np

    from genesis_core.plots import cube_montage
    from genesis_core.store import CubeStore
    from tasks.settings import get_settings

    s = CubeStore(store, get_settings().storage_options())
    if len(s) == 0:
        console.print(f"[red]error:[/] {store} has no committed cubes")
        raise typer.Exit(2)
    splits = s.split()
    t = Table(
        title=f"{store} (manifest v{s.manifest.version}, config {s.manifest.config_hash[:12]})"
    )
    for c in ("scans", "cubes", "cube (Z,Y,X)", "train cubes", "val cubes", "test cubes"):
        t.add_column(c)
    t.add_row(
        str(len(s.scan_ids)),
        str(len(s)),
        str(s.cube_shape),
        *(str(len(splits[k])) for k in ("train", "val", "test")),
    )
    console.print(t)
    idx = np.random.default_rng(seed).choice(len(s), size=min(n, len(s)), replace=False)
    cubes = s.read(sorted(idx.tolist()))
    titles = [f"{s.provenance(int(i))['scan_id'][-14:]} #{int(i)}" for i in sorted(idx.tolist())]
    path = cube_montage(list(cubes), titles, out or Path("inspect.png"))
    console.print(f"montage: {path}")


def _open_store(uri: str, verify: bool = True):
    """The committed view of a cube store or a target store (by its manifest's config)."""
    from genesis_core.store import CubeStore, read_latest
    from genesis_core.targets import TargetStore
    from tasks.settings import get_settings

    opts = get_settings().storage_options()
    manifest = read_latest(uri, opts)
    if manifest.version == 0:
        console.print(f"[red]error:[/] {uri} has no committed manifest (not a store?)")
        raise typer.Exit(2)
    cls = TargetStore if "task" in manifest.config else CubeStore
    return cls(uri, opts, manifest=manifest, verify=verify)


@store_app.command("verify")
def store_verify(store: Annotated[str, typer.Argument(help="store URI")]) -> None:
    """Read every committed scan and check it against its manifest checksum (exit 1 on damage)."""
    view = _open_store(store, verify=False)
    t = Table(title=f"{store} (manifest v{view.manifest.version})")
    for c in ("scan", "samples", "generation", "result"):
        t.add_column(c, overflow="fold")
    bad = 0
    for sid, problem in view.verify_all().items():
        entry = view.manifest.scans[sid]
        result = problem or ("verified" if entry.checksum else "no checksum (older store)")
        bad += bool(problem)
        style = "red" if problem else ("green" if entry.checksum else "yellow")
        t.add_row(sid, str(entry.n_cubes), entry.group.rsplit("/", 1)[-1], f"[{style}]{result}[/]")
    console.print(t)
    console.print(f"{len(view.scan_ids) - bad} of {len(view.scan_ids)} scans pass")
    if bad:
        raise typer.Exit(1)


@store_app.command("gc")
def store_gc(
    store: Annotated[str, typer.Argument(help="store URI")],
    grace_hours: Annotated[
        float, typer.Option(help="keep never-committed generations younger than this")
    ] = 24.0,
    dry_run: Annotated[bool, typer.Option(help="only list what would be removed")] = False,
) -> None:
    """Remove generations the latest manifest no longer reads (superseded or stale attempts)."""
    from genesis_core.store.gc import gc_store
    from tasks.locks import store_writer
    from tasks.settings import get_settings

    with store_writer(store, "gc"):
        report = gc_store(store, get_settings().storage_options(), grace_hours * 3600, dry_run)
    verb = "would remove" if dry_run else "removed"
    for kind in ("superseded", "stale"):
        for g in report[kind]:
            console.print(f"{verb} {kind} {g}")
    console.print(
        f"{verb} {len(report['superseded'])} superseded and {len(report['stale'])} stale "
        f"generations; {len(report['kept'])} kept"
    )


@app.command()
def pretrain(
    store: Annotated[str | None, typer.Option(help="cube store URI")] = None,
    dataset: Annotated[
        str | None, typer.Option(help="or: the dataset whose default store to use")
    ] = None,
    root: RootOpt = None,
    profile: Annotated[
        str, typer.Option(help="'tiny' (CPU minutes) or 'paper' (SPEC recipe)")
    ] = "tiny",
    steps: Annotated[
        int | None, typer.Option(help="optimizer steps (default: the profile's)")
    ] = None,
    transforms: Annotated[str, typer.Option(help="ablation: all, I&II, III&IV, ...")] = "all",
    mode: Annotated[str, typer.Option(help="'fixed' or 'faithful' (reference quirks)")] = "fixed",
    seed: Annotated[int, typer.Option(help="training seed")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1 ...")] = "auto",
    resume: Annotated[bool, typer.Option(help="continue from the last checkpoint")] = False,
    experiment: Annotated[str, typer.Option(help="MLflow experiment")] = "genesis-pretrain",
    model_name: Annotated[str, typer.Option(help="registered model name")] = "genesis-unet3d",
    warm_start: Annotated[str | None, typer.Option(help="model URI to start from")] = None,
    gpus: Annotated[
        int, typer.Option(help="data-parallel processes under torchrun (one per GPU)")
    ] = 1,
    sampling: Annotated[
        Sampling,
        typer.Option(
            help="cube order: random (the paper's), blocks (scans in blocks of "
            "GENESIS_BLOCK_SCANS, one request per scan), auto (blocks on object stores)"
        ),
    ] = "auto",
) -> None:
    """Pre-train the 3D U-Net by restoring corrupted cubes; track in MLflow; register the model."""
    print_pretrain(
        _run_pretrain(
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
        )
    )


def _run_pretrain(**kw: Any) -> dict[str, Any]:
    from flows.pretrain import pretrain_flow

    return _run(pretrain_flow, **kw)


def _run(flow_fn: Any, **kw: Any) -> dict[str, Any]:
    """Run a flow; a problem with the user's input or a damaged store becomes a clear
    message and exit code 2."""
    from genesis_core.store.integrity import StoreCorruption
    from genesis_core.store.manifest import StoreConflict
    from tasks.services import ServiceUnavailable

    try:
        return flow_fn(**kw)
    except (
        FileNotFoundError, NotADirectoryError, PermissionError, ValueError, StoreCorruption,
        StoreConflict, ServiceUnavailable,
    ) as e:  # fmt: skip
        console.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
    except OSError as e:  # retried already: the disk, the network or a server is at fault
        console.print(
            f"[red]error:[/] I/O failure after retries: {e}; nothing committed was changed, "
            "rerun once it is fixed"
        )
        raise typer.Exit(2) from e


def print_pretrain(r: dict[str, Any]) -> None:
    t = Table(title=f"pre-trained {r['model_name']} v{r['version']}")
    for c in ("steps", "first val loss", "best val loss", "champion", "promoted", "MLflow run"):
        t.add_column(c)
    first = r.get("first_val_loss")
    t.add_row(
        str(r["steps"]),
        f"{first:.5f}" if first is not None else "-",
        f"{r['val_loss']:.5f}",
        f"v{r['champion_version']}",
        str(r["promoted"]),
        r["run_id"],
    )
    console.print(t)
    uri = r["tracking_uri"]
    console.print(
        f"browse it: mlflow ui --backend-store-uri {uri}   (then open http://127.0.0.1:5000)"
    )
    console.print(f"load it:   mlflow.pytorch.load_model('models:/{r['model_name']}@champion')")


@app.command()
def targets(
    dataset: Annotated[str, typer.Option("--dataset", help="catalog name")],
    task: Annotated[
        str,
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
    samples_per_scan: Annotated[int, typer.Option(help="segmentation samples per scan")] = 32,
    include_tumour: Annotated[bool, typer.Option(help="lcs: label 2 counts as foreground")] = False,
    label: Annotated[
        str | None,
        typer.Option(help="foreground label names from dataset.json, or values (e.g. spleen; 1,2)"),
    ] = None,
    workers: Annotated[int | None, typer.Option(help="local Dask workers")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address")] = None,
    force: Annotated[bool, typer.Option(help="rebuild every scan")] = False,
) -> None:
    """Build a target-task dataset (fine-tuning samples) from a catalog, in parallel on Dask."""
    from flows.targets import targets_flow

    r = targets_flow(
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
    _print_targets(r)


def _print_targets(r: dict[str, Any]) -> None:
    console.print(
        f"{r['task']} targets: {r['done']} scans built, {len(r['failed'])} failed, {len(r['empty'])} empty; "
        f"{r['samples_in_store']} samples in {r['scans_in_store']} scans → {r['store_uri']}"
    )
    for f in r["failed"]:
        console.print(f"[red]failed[/] {f['scan_id']}: {f['reason']}")


@app.command()
def finetune(
    task: Annotated[str, typer.Option(help="ncc, lcs or ncs")],
    init: Annotated[
        str, typer.Option(help="scratch, genesis, models:/NAME@ALIAS or file:PATH")
    ] = "genesis",
    dataset: Annotated[str | None, typer.Option(help="dataset whose target store to use")] = None,
    store: Annotated[str | None, typer.Option(help="target store URI")] = None,
    root: RootOpt = None,
    fraction: Annotated[float, typer.Option(help="fraction of training scans")] = 1.0,
    seed: Annotated[int, typer.Option(help="seed")] = 0,
    profile: Annotated[str, typer.Option(help="tiny or paper")] = "tiny",
    steps: Annotated[int | None, typer.Option(help="optimizer steps")] = None,
) -> None:
    """Fine-tune one model on a target task and register it as genesis-TASK."""
    from flows.evaluate import finetune_flow

    r = finetune_flow(
        task=task,
        init=init,
        dataset=dataset,
        store=store,
        root=root,
        fraction=fraction,
        seed=seed,
        profile=profile,
        steps=steps,
    )
    scores = {k: round(float(r[k]), 4) for k in ("auc", "dice", "iou", "mean_iou_paper") if k in r}
    console.print(
        f"{task} fine-tuned from {init}: test {scores}; registered {r['model_name']} v{r['versions'][-1]}"
    )


@app.command()
def evaluate(
    task: Annotated[str, typer.Option(help="ncc, lcs or ncs")],
    dataset: Annotated[str | None, typer.Option(help="dataset whose target store to use")] = None,
    store: Annotated[str | None, typer.Option(help="target store URI")] = None,
    root: RootOpt = None,
    inits: Annotated[str, typer.Option(help="comma-separated inits")] = "scratch,genesis",
    seeds: Annotated[int, typer.Option(help="seeds per cell")] = 3,
    label_fractions: Annotated[
        str, typer.Option(help="comma-separated fractions")
    ] = "0.1,0.25,0.5,1.0",
    profile: Annotated[str, typer.Option(help="tiny or paper")] = "tiny",
    steps: Annotated[int | None, typer.Option(help="optimizer steps per fit")] = None,
) -> None:
    """Scratch vs Genesis (or any inits) over label fractions and seeds, with t-tests."""
    print_evaluate(
        _run_evaluate(
            task=task,
            dataset=dataset,
            store=store,
            root=root,
            inits=inits,
            seeds=seeds,
            label_fractions=label_fractions,
            profile=profile,
            steps=steps,
        )
    )


def _run_evaluate(**kw: Any) -> dict[str, Any]:
    from flows.evaluate import evaluate_flow

    return _run(evaluate_flow, **kw)


def print_evaluate(r: dict[str, Any]) -> None:
    console.print(r["markdown"])
    console.print(f"table, CSV and learning curve: {r['out_dir']}")
    if r.get("champion_version"):
        console.print(
            f"registered genesis-{r['task']} versions {r['versions']}; champion v{r['champion_version']} "
            f"({r['champion_init']})"
        )


REAL_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "real"


@app.command()
def demo(
    root: RootOpt = None,
    scans: Annotated[int, typer.Option(help="synthetic LUNA16 scans to generate")] = 10,
    size: Annotated[str, typer.Option(help="synthetic volume size X,Y,Z")] = "256,256,128",
    real: Annotated[Path | None, typer.Option(help="folder of real scans to ingest too")] = None,
) -> None:
    """Run the pipeline end to end on embedded defaults (no server needed)."""
    from genesis_core.synth import write_luna16

    root_dir = Path(root or os.environ.get("GENESIS_ROOT", "genesis_data")).absolute()
    src = root_dir / "sources" / "demo-luna16"
    if not (src / "candidates.csv").exists():
        console.rule("1. synthesise a LUNA16-layout dataset")
        write_luna16(src, scans=scans, seed=0, size_xyz=_triple(size, int))
    console.rule("2. ingest")
    print_ingest(_run_ingest(str(src), "demo-luna16", str(root_dir), False))
    real = real or (REAL_DATA if REAL_DATA.is_dir() else None)
    if real is not None:
        for sub in sorted(p for p in real.iterdir() if p.is_dir()):
            print_ingest(_run_ingest(str(sub), f"real-{sub.name}", str(root_dir), False))
    console.rule("3. preprocess into a Zarr cube store (Dask)")
    # The demo phantoms are small (about 190 mm across), so the demo cuts the `tiny`
    # profile's 32x32x16 cubes; `genesis preprocess` defaults to the paper's 64x64x32.
    pre = _run_preprocess(
        dataset="demo-luna16", root=str(root_dir), spacing="1,1,1", cube="32,32,16",
        cubes_per_scan=16, seed=0, acceptance="lung",
    )  # fmt: skip
    print_preprocess(pre)
    inspect(pre["store_uri"], out=root_dir / "demo-cubes.png", n=6, seed=0)
    console.rule("4. pre-train (tiny profile) and register in MLflow")
    print_pretrain(
        _run_pretrain(store=pre["store_uri"], root=str(root_dir), profile="tiny", steps=60)
    )
    console.rule("5. fine-tune: scratch vs Genesis on nodule candidates (ncc), a smoke run")
    from flows.targets import targets_flow

    _print_targets(
        _run(targets_flow, dataset="demo-luna16", task="ncc", root=str(root_dir), cube="32,32,16")
    )
    print_evaluate(
        _run_evaluate(task="ncc", dataset="demo-luna16", root=str(root_dir), seeds=2,
                      label_fractions="0.5,1.0", steps=10)
    )  # fmt: skip
    console.print(
        "[yellow]smoke run:[/] 2 seeds × 10 fine-tuning steps only show that every stage works; "
        "the numbers are noise and say nothing about Genesis vs scratch. That comparison is "
        "`python benchmarks/genesis_vs_scratch.py` (results: benchmarks/RESULTS.md)."
    )
    console.rule("done")
    console.print(f"everything is under {root_dir}")


if __name__ == "__main__":
    app()
