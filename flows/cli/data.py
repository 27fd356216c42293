"""Data commands: synthesise, ingest, preprocess, inspect, and check or tidy stores."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.table import Table

from flows.cli.base import (
    CubeOpt,
    CubesPerScanOpt,
    RootOpt,
    SpacingOpt,
    StoreOpt,
    catalog_app,
    checked,
    command,
    run_flow,
    say,
    settings,
    store_app,
    synth_app,
)
from flows.console import console

if TYPE_CHECKING:
    from tasks.contracts.ingest import IngestResult
    from tasks.contracts.preprocess import PreprocessResult


def _triple(text: str, kind: type = int) -> tuple:
    try:
        parts = tuple(kind(p) for p in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or min(parts) <= 0:
        raise ValueError(f"need three positive comma-separated values, got {text!r}")
    return parts


def _pair(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        lo = hi = -1.0
    if not 0 < lo <= hi:
        raise ValueError(f"need MIN,MAX with 0 < MIN <= MAX, got {text!r}")
    return lo, hi


@command("luna16", synth_app)
def synth_luna16(
    out: Path,
    scans: Annotated[
        int, typer.Option(min=1, help="number of scans (spread over train/val/test)")
    ] = 10,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    size: Annotated[str, typer.Option(help="volume size X,Y,Z in voxels")] = "256,256,160",
    fov_mm: Annotated[
        float, typer.Option(min=50, help="in-plane field of view, mm (a chest CT: 320-400)")
    ] = 350.0,
    slice_mm: Annotated[str, typer.Option(help="slice thickness range MIN,MAX mm")] = "1.5,2.5",
) -> None:
    """LUNA16 layout: subsetK/<uid>.mhd+.raw, annotations.csv, candidates.csv.  The default
    phantoms (350 mm across, 240–400 mm long) suit the default `preprocess` and `pretrain`;
    scans are spread over train/validation/test subsets."""
    from genesis_core.synth import write_luna16

    size_xyz = checked("--size", _triple, size)
    thickness = checked("--slice-mm", _pair, slice_mm)
    write_luna16(out, scans=scans, seed=seed, size_xyz=size_xyz, fov_mm=fov_mm, slice_mm=thickness)
    console.print(f"wrote {scans} synthetic LUNA16 scans to {out}")


@command("lits", synth_app)
def synth_lits(
    out: Path,
    scans: Annotated[int, typer.Option(min=1, help="number of scans")] = 4,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    size: Annotated[str, typer.Option(help="volume size X,Y,Z in voxels")] = "128,128,96",
) -> None:
    """LiTS layout: volume-N.nii.gz + segmentation-N.nii.gz (1 liver, 2 tumour)."""
    from genesis_core.synth import write_lits

    write_lits(out, scans=scans, seed=seed, size_xyz=checked("--size", _triple, size))
    console.print(f"wrote {scans} synthetic LiTS scans to {out}")


@command()
def ingest(
    source: Annotated[str, typer.Argument(help="local folder or s3:// prefix")],
    dataset: Annotated[
        str,
        typer.Option(
            "--dataset",
            help="catalog name (required: a folder's name may be a patient's)",
        ),
    ],
    root: RootOpt = None,
    force: Annotated[bool, typer.Option(help="re-read every scan")] = False,
) -> None:
    """Catalog the scans under SOURCE (LUNA16, LiTS, MSD, DICOM tree or plain folder)."""
    report = run_ingest(source, dataset, root, force)
    if report is not None:
        print_ingest(report, root)


def run_ingest(source: str, dataset: str, root: str | None, force: bool) -> IngestResult | None:
    """The ingest flow's report, or ``None`` (after saying why) when nothing changed."""
    from flows import options, precheck
    from genesis_core import catalog
    from genesis_core.io import storage

    if not storage.is_remote(source) and not Path(source).is_dir():
        raise typer.BadParameter(f"{source} is not a folder", param_hint="SOURCE")
    s = settings(root)
    uri = catalog.catalog_uri(s.root_uri, dataset)
    say(f"ingest → {uri}")
    why = precheck.ingest_noop(s.location(source), s.location(uri), force)
    if why:
        console.print(f"nothing to do: {why}")
        return None
    return run_flow(
        "flows.ingest:ingest_flow",
        source=options.private(source),
        dataset=dataset,
        root=root,
        force=force,
    )


def print_ingest(report: IngestResult, root: str | None = None) -> None:
    """The ingest report; scans are named by pseudonym (:mod:`tasks.privacy`)."""
    from tasks.privacy import shown

    t = Table(title=f"catalog {report.dataset} ({report.layout} layout)")
    for col in ("scans", "ok", "quarantined", "read this run", "changed", "formats"):
        t.add_column(col)
    fmts = ", ".join(f"{k}: {v}" for k, v in report.by_format.items())
    counts = (report.scans, report.ok, report.quarantined, report.read, report.changed)
    t.add_row(*(str(v) for v in counts), fmts)
    console.print(t)
    if report.quarantine:
        q = Table(title="quarantined")
        q.add_column("scan", overflow="fold")
        q.add_column("reason", overflow="fold")
        for r in report.quarantine:
            q.add_row(shown(r.scan_id, root), r.reason)
        console.print(q)
    for a in report.annotations:
        if a.error is not None:
            console.print(f"[red]{a.kind}:[/] {a.error}")
        else:
            console.print(
                f"{a.kind}: {a.rows} rows, {a.orphans} without a scan, "
                f"{len(a.invalid)} invalid → {a.uri}"
            )
    console.print(f"catalog: {report.catalog_uri}")


@command()
def preprocess(
    dataset: Annotated[str, typer.Option("--dataset", help="catalog name")],
    root: RootOpt = None,
    store: StoreOpt = None,
    spacing: SpacingOpt = "1,1,1",
    cube: CubeOpt = "64,64,32",
    cubes_per_scan: CubesPerScanOpt = 32,
    seed: Annotated[int, typer.Option(help="global seed (cubes depend on seed and scan id)")] = 0,
    acceptance: Annotated[
        Literal["lung", "none"], typer.Option(help="'lung' (SPEC test) or 'none'")
    ] = "lung",
    workers: Annotated[
        int | None, typer.Option(min=1, help="local Dask workers (default: cores)")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address to attach to")
    ] = None,
    force: Annotated[bool, typer.Option(help="recompute every scan")] = False,
    border: Annotated[
        str, typer.Option(help="candidate borders X,Y,Z voxels, or 'auto' (scaled to the scan)")
    ] = "auto",
    preset: Annotated[
        Literal["default", "paper"],
        typer.Option(help="'paper': the reference's cubes (native spacing, borders 100,100,30)"),
    ] = "default",
) -> None:
    """Resample, window and cut cubes into a Zarr cube store, in parallel on Dask."""
    report = run_preprocess(
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
    )
    if report is not None:
        print_preprocess(report, root)


def _preprocess_options(kw: dict[str, Any]) -> dict[str, Any]:
    """The flow's parameters from the CLI's: comma strings parsed here, and only here."""
    from flows import options

    return {
        **kw,
        "spacing": checked("--spacing", options.parse_spacing, kw["spacing"]),
        "cube": checked("--cube", options.parse_cube, kw["cube"]),
        "border": checked("--border", options.parse_border, kw["border"]),
    }


def run_preprocess(**kw: Any) -> PreprocessResult | None:
    """The preprocess flow's report, or ``None`` (after saying why) when nothing is new."""
    from flows import options, precheck
    from genesis_core import catalog

    params = _preprocess_options(kw)
    cfg = options.build_config(
        params["spacing"],
        params["cube"],
        params["cubes_per_scan"],
        params["seed"],
        params["acceptance"],
        params["border"],
        params["preset"],
    )
    s = settings(kw["root"])
    catalog_uri = catalog.catalog_uri(s.root_uri, kw["dataset"])
    store = kw["store"] or options.store_uri_for(s.root_uri, kw["dataset"])
    say(f"preprocess {kw['dataset']} → {store}")
    why = precheck.preprocess_noop(
        s.location(catalog_uri), s.location(store), cfg.to_dict(), kw["force"]
    )
    if why:
        console.print(f"nothing to do: {why}")
        return None
    return run_flow("flows.preprocess:preprocess_flow", **params)


def print_preprocess(r: PreprocessResult, root: str | None = None) -> None:
    from tasks.privacy import shown

    t = Table(title=f"cube store for {r.dataset}")
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
        *(
            str(v)
            for v in (
                r.planned,
                r.done,
                len(r.failed),
                len(r.empty),
                r.cubes_written,
                r.scans_in_store,
                r.cubes_in_store,
            )
        ),
        f"{r.store_bytes / 1e6:.1f}",
        f"{r.wall_seconds:.1f}",
        f"{r.scans_per_second:.2f}",
    )
    console.print(t)
    for f in r.failed:
        console.print(f"[red]failed[/] {shown(f.scan_id, root)}: {f.reason}", soft_wrap=True)
    for e in r.empty:
        console.print(f"[yellow]no cubes[/] {shown(e.scan_id, root)}: {e.reason}", soft_wrap=True)
    console.print(f"store: {r.store_uri} (manifest v{r.manifest_version})")


@command()
def inspect(
    store: Annotated[str, typer.Argument(help="cube store or target store URI")],
    out: Annotated[
        Path | None, typer.Option(help="montage PNG path (default: inspect.png in the cwd)")
    ] = None,
    n: Annotated[int, typer.Option(min=1, help="samples in the montage")] = 6,
    seed: Annotated[int, typer.Option(help="which random samples")] = 0,
) -> None:
    """Summarise a cube store or a target store and save a montage of random samples."""
    import numpy as np

    from genesis_core.plots import cube_montage
    from tasks.privacy import shown

    view = open_store(store)
    target = "task" in view.manifest.config
    _summary(store, view, target)
    idx = sorted(np.random.default_rng(seed).choice(len(view), min(n, len(view)), False).tolist())
    images = _images(view, idx)
    titles = [f"{shown(view._locate(i)[0])} #{i}" for i in idx]
    console.print(f"montage: {cube_montage(images, titles, out or Path('inspect.png'))}")


def _summary(uri: str, view, target: bool) -> None:
    kind = f"target store ({view.manifest.config['task']})" if target else "cube store"
    t = Table(
        title=f"{uri}: {kind}, manifest v{view.manifest.version}, "
        f"config {view.manifest.config_hash[:12]}"
    )
    splits = view.split()
    for c in ("scans", "samples", "train", "val", "test"):
        t.add_column(c)
    t.add_row(
        str(len(view.scan_ids)),
        str(len(view)),
        *(str(len(splits[k])) for k in ("train", "val", "test")),
    )
    console.print(t)


def _images(view, idx: list[int]) -> list:
    """The (D, H, W) image of each sample (a target store's image, not its label)."""
    got = view.read(idx)
    images = got[0] if isinstance(got, tuple) else got
    return [img[0] if img.ndim == 4 else img for img in images]


def open_store(uri: str, verify: bool = True):
    """The committed view of a cube store or a target store (by its manifest's config)."""
    from genesis_core.store import CubeStore, read_latest
    from genesis_core.targets import TargetStore

    where = settings(None).location(uri)
    manifest = read_latest(where)
    if manifest.version == 0 or not manifest.scans:
        raise FileNotFoundError(
            f"{uri} has no committed scans (not a store, or nothing committed yet): "
            "`genesis preprocess` or `genesis targets` builds one"
        )
    cls = TargetStore if "task" in manifest.config else CubeStore
    return cls(where, manifest=manifest, verify=verify)


@command("verify", store_app)
def store_verify(store: Annotated[str, typer.Argument(help="store URI")]) -> None:
    """Check every record of the manifest log, then read every committed scan and check it
    against its manifest checksum (exit 1 on damage, naming the file or scan)."""
    from genesis_core.store.integrity import StoreCorruption
    from genesis_core.store.manifest import log_records

    try:
        records = log_records(settings(None).location(store))
    except StoreCorruption as e:  # a damaged, missing or unchained record: named, exit 1
        console.print(f"[red]manifest log damaged:[/] {e}", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from None
    console.print(f"{len(records)} manifest records verified (checksums and chain)")
    view = open_store(store, verify=False)
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


@command("gc", store_app)
def store_gc(
    store: Annotated[str, typer.Argument(help="store URI")],
    grace_hours: Annotated[
        float, typer.Option(min=0, help="keep never-committed generations younger than this")
    ] = 24.0,
    retain_hours: Annotated[
        float,
        typer.Option(min=0, help="keep every generation a version newest within this window lists"),
    ] = 24.0,
    dry_run: Annotated[bool, typer.Option(help="only list what would be removed")] = False,
) -> None:
    """Remove generations no version of the retention window reads (superseded or stale)."""
    from genesis_core.store.gc import gc_store
    from tasks.locks import store_writer

    with store_writer(store, "gc"):
        report = gc_store(
            settings(None).location(store), grace_hours * 3600, dry_run, retain_hours * 3600
        )
    verb = "would remove" if dry_run else "removed"
    for kind in ("superseded", "stale"):
        for g in report[kind]:
            console.print(f"{verb} {kind} {g}")
    console.print(
        f"{verb} {len(report['superseded'])} superseded and {len(report['stale'])} stale "
        f"generations; {len(report['kept'])} kept"
    )


@command("who", catalog_app)
def catalog_who(
    name: Annotated[str, typer.Argument(help="a scan pseudonym (scan-…) from a log or a report")],
    dataset: Annotated[str, typer.Option("--dataset", help="catalog name")],
    root: RootOpt = None,
) -> None:
    """The scan behind a pseudonym: its source identifier and files (for authorised users:
    it reads the catalog and the site secret, both in the data plane)."""
    from genesis_core import catalog, privacy

    s = settings(root)
    uri = catalog.catalog_uri(s.root_uri, dataset)
    df = catalog.load(s.location(uri))
    hits = privacy.lookup(name.strip(), df["scan_id"].astype(str).unique(), s.secret())
    if not hits:
        raise typer.BadParameter(
            f"no scan of {uri} has the pseudonym {name} (another dataset, or another site secret?)",
            param_hint="NAME",
        )
    for row in df[df["scan_id"].isin(hits)].itertuples():
        console.print(f"{name}: {row.scan_id} ({row.status}) {row.source_uri}", soft_wrap=True)
