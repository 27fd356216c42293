"""Operating the pipeline: the nightly run, the demo, the local Prefect server, the MLflow UI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from flows.cli.base import (
    CubeOpt,
    CubesPerScanOpt,
    Profile,
    RootOpt,
    SpacingOpt,
    StoreOpt,
    checked,
    command,
    run_flow,
    say,
    server_app,
    settings,
)
from flows.cli.data import (
    inspect,
    print_ingest,
    print_preprocess,
    run_ingest,
    run_preprocess,
)
from flows.cli.training import (
    print_evaluate,
    print_pretrain,
    print_registry_hints,
    print_targets,
    run_evaluate,
    run_pretrain,
    run_targets,
)
from flows.console import console

REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"


@command()
def nightly(
    sources: Annotated[list[str], typer.Argument(help="folders or s3:// prefixes with new scans")],
    dataset: Annotated[str, typer.Option(help="catalog and store name")] = "nightly",
    root: RootOpt = None,
    profile: Annotated[Profile, typer.Option(help="tiny or paper")] = "tiny",
    steps: Annotated[int | None, typer.Option(min=1, help="optimizer steps")] = None,
    full_retrain: Annotated[
        bool, typer.Option(help="train from scratch, not the champion")
    ] = False,
    model_name: Annotated[str, typer.Option(help="registered model name")] = "genesis-unet3d",
    ungated: Annotated[
        bool, typer.Option(help="skip the transfer gate: promote on reference loss only")
    ] = False,
    spacing: SpacingOpt = "1,1,1",
    cube: CubeOpt = "64,64,32",
    cubes_per_scan: CubesPerScanOpt = 32,
    store: StoreOpt = None,
    force: Annotated[
        bool,
        typer.Option(help="rebuild the cube store with these options (else another is refused)"),
    ] = False,
    resume: Annotated[
        bool, typer.Option(help="continue a killed run's checkpoint when its parameters match")
    ] = True,
) -> None:
    """The nightly flow, here and now: ingest new scans, append their cubes, warm-start
    pre-training from the champion, register; stops early when nothing is new."""
    from flows import options
    from genesis_core.io import storage

    for src in sources:
        if not storage.is_remote(src) and not Path(src).is_dir():
            raise typer.BadParameter(f"{src} is not a folder", param_hint="SOURCES")
    s = settings(root)
    say(
        f"nightly {dataset}: {len(sources)} source(s) → "
        f"{store or options.store_uri_for(s.root_uri, dataset)}"
    )
    r = run_flow(
        "flows.nightly:nightly_flow",
        sources=[options.private(src) for src in sources],
        dataset=dataset,
        root=root,
        profile=profile,
        steps=steps,
        full_retrain=full_retrain,
        model_name=model_name,
        ungated=ungated,
        spacing=checked("--spacing", options.parse_spacing, spacing),
        cube=checked("--cube", options.parse_cube, cube),
        cubes_per_scan=cubes_per_scan,
        store=store,
        force=force,
        resume=resume,
    )
    from flows.nightly import render

    console.print(render(r, model_name))
    if r.pretrain is not None:
        print_registry_hints(r.pretrain.tracking_uri, model_name)


@command("start", server_app)
def server_start(root: RootOpt = None) -> None:
    """Start (or find) the local Prefect server the CLI uses for this data root."""
    from flows.local_api import ensure_server

    console.print(f"Prefect API: {ensure_server(settings(root).local_root, say)}")


@command("status", server_app)
def server_status(root: RootOpt = None) -> None:
    """Say whether this data root's local Prefect server is running, and where."""
    from flows.local_api import running

    state = running(settings(root).local_root)
    if state is None:
        console.print("no local Prefect server is running for this data root")
        raise typer.Exit(1)
    ui = state["url"].removesuffix("/api")
    console.print(f"running: pid {state['pid']}, API {state['url']}, UI {ui}")


@command("stop", server_app)
def server_stop(root: RootOpt = None) -> None:
    """Stop this data root's local Prefect server (its run history stays on disk)."""
    from flows.local_api import stop

    pid = stop(settings(root).local_root)
    console.print("no local Prefect server was running" if pid is None else f"stopped pid {pid}")


@command()
def ui(
    root: RootOpt = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="port on 127.0.0.1")] = 5000,
) -> None:
    """Browse runs and registered models: the MLflow UI on this data root's tracking store."""
    uri = settings(root).tracking_uri()
    from genesis_core.io.storage import redact_uri

    console.print(
        f"MLflow UI for {redact_uri(uri)} at http://127.0.0.1:{port} (Ctrl-C stops it)",
        soft_wrap=True,
        highlight=False,
    )
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    try:
        raise typer.Exit(subprocess.call(cmd))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@command()
def demo(
    root: RootOpt = None,
    scans: Annotated[int, typer.Option(min=3, help="synthetic LUNA16 scans to generate")] = 10,
    size: Annotated[str, typer.Option(help="synthetic volume size X,Y,Z")] = "256,256,128",
    real: Annotated[Path | None, typer.Option(help="folder of real scans to ingest too")] = None,
) -> None:
    """Run the pipeline end to end on embedded defaults (no server needed)."""
    from flows import options

    root_dir = Path(root or os.environ.get("GENESIS_ROOT", "genesis_data")).absolute()
    src = root_dir / "sources" / "demo-luna16"
    if not (src / "candidates.csv").exists():
        console.rule("1. synthesise a LUNA16-layout dataset")
        from flows.cli.data import _triple
        from genesis_core.synth import write_luna16

        # small phantoms (about 190 mm across) that the demo cuts into 32x32x16 cubes
        write_luna16(src, scans=scans, seed=0, size_xyz=checked("--size", _triple, size))
    console.rule("2. ingest")
    _ingest(src, "demo-luna16", root_dir)
    real = real or (REAL_DATA if REAL_DATA.is_dir() else None)
    for sub in sorted(p for p in real.iterdir() if p.is_dir()) if real else []:
        _ingest(sub, f"real-{sub.name}", root_dir)
    console.rule("3. preprocess into a Zarr cube store (Dask)")
    # The demo phantoms are small (about 190 mm across), so the demo cuts the `tiny`
    # profile's 32x32x16 cubes; `genesis preprocess` defaults to the paper's 64x64x32.
    pre = run_preprocess(
        dataset="demo-luna16",
        root=str(root_dir),
        store=None,
        spacing="1,1,1",
        cube="32,32,16",
        cubes_per_scan=16,
        seed=0,
        acceptance="lung",
        workers=None,
        scheduler=None,
        force=False,
        border="auto",
        preset="default",
    )
    if pre is not None:
        print_preprocess(pre, str(root_dir))
    store = options.store_uri_for(str(root_dir), "demo-luna16")
    inspect(store, out=root_dir / "demo-cubes.png", n=6, seed=0)
    _demo_training(root_dir, store)
    console.rule("done")
    console.print(f"everything is under {root_dir}")


def _ingest(src: Path, dataset: str, root_dir: Path) -> None:
    report = run_ingest(str(src), dataset, str(root_dir), False)
    if report is not None:
        print_ingest(report, str(root_dir))


def _demo_training(root_dir: Path, store: str) -> None:
    console.rule("4. pre-train (tiny profile) and register in MLflow")
    print_pretrain(
        run_pretrain(
            store=store,
            dataset=None,
            root=str(root_dir),
            profile="tiny",
            steps=60,
            transforms="all",
            mode="fixed",
            seed=0,
            device="auto",
            resume=False,
            experiment="genesis-pretrain",
            model_name="genesis-unet3d",
            warm_start=None,
            gpus=1,
            sampling="auto",
        )
    )
    console.rule("5. fine-tune: scratch vs Genesis on nodule candidates (ncc), a smoke run")
    built = run_targets(
        dataset="demo-luna16",
        task="ncc",
        root=str(root_dir),
        store=None,
        spacing="1,1,1",
        cube="32,32,16",
        samples_per_scan=32,
        include_tumour=False,
        label=None,
        workers=None,
        scheduler=None,
        force=False,
    )
    if built is not None:
        print_targets(built, str(root_dir))
    print_evaluate(
        run_evaluate(
            task="ncc",
            dataset="demo-luna16",
            store=None,
            root=str(root_dir),
            inits="scratch,genesis",
            seeds=2,
            label_fractions="0.5,1.0",
            profile="tiny",
            steps=10,
        )
    )
    console.print(
        "[yellow]smoke run:[/] 2 seeds × 10 fine-tuning steps only show that every stage works; "
        "the numbers are noise and say nothing about Genesis vs scratch. That comparison is "
        "`python benchmarks/genesis_vs_scratch.py` (results: benchmarks/RESULTS.md)."
    )
