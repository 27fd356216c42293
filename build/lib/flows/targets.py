"""The targets flow: catalogued labelled scans → a target-task store for fine-tuning."""

from __future__ import annotations

from prefect import flow

from flows.options import Cube, Spacing, check_cube, check_spacing, target_store_uri
from genesis_core import catalog
from genesis_core.io import msd
from genesis_core.io.storage import Location
from genesis_core.target_tasks import TaskName, target_task
from genesis_core.targets import TargetConfig
from tasks.contracts.targets import TargetsResult
from tasks.locks import store_writer
from tasks.services import check_storage
from tasks.settings import get_settings
from tasks.targets import build_targets, commit_target_store, plan_targets


def resolve_labels(cat: Location, label: list[str] | None) -> tuple[int, ...]:
    """Label values for ``label`` (names or values) of a catalogued dataset;
    names are looked up in the ``dataset.json`` beside its ``labelsTr``."""
    if not label:
        raise ValueError("task 'seg' needs --label: a label name from dataset.json or a value")
    df = catalog.load(cat)
    with_labels = df["label_uri"].dropna() if not df.empty else df
    where, spec = "the catalog", None
    if len(with_labels):
        where, spec = msd.dataset_json_for(cat.at(str(with_labels.iloc[0])))
    return msd.label_values(list(label), spec, where)


@flow(name="targets", log_prints=True)
def targets_flow(
    dataset: str,
    task: TaskName,
    root: str | None = None,
    store: str | None = None,
    spacing: Spacing | None = (1.0, 1.0, 1.0),
    cube: Cube = (64, 64, 32),
    samples_per_scan: int = 32,
    foreground_ratio: float = 0.5,
    include_tumour: bool = False,
    label: list[str] | None = None,
    seed: int = 0,
    workers: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
) -> TargetsResult:
    """Build ``ncc`` (candidate cubes), ``lcs`` (liver image/mask pairs), ``ncs`` (nodule
    sphere masks) or ``seg`` (pairs for the named ``label`` of any labelled dataset, e.g.
    ``label=["spleen"]`` or ``["1", "2"]``) samples for every new ``ok`` scan, in parallel on
    Dask.  ``spacing`` is X,Y,Z mm (``None``: native), ``cube`` X,Y,Z voxels."""
    settings = get_settings(root)
    cube_xyz = check_cube(cube)
    catalog_uri = catalog.catalog_uri(settings.root_uri, dataset)
    labels = (1, 2) if include_tumour else (1,)
    if label is not None or target_task(task).needs_label:
        labels = resolve_labels(settings.location(catalog_uri), label)
    cfg = TargetConfig(
        task=task,
        spacing_xyz=check_spacing(spacing),
        cube_xyz=cube_xyz,
        n=samples_per_scan,
        foreground_ratio=foreground_ratio,
        labels=labels,
        seed=seed,
    )
    store_uri = store or target_store_uri(settings.root_uri, dataset, task, label)
    check_storage(settings.root_uri, store_uri, root=root)
    with store_writer(store_uri, f"targets {dataset} {task}", root=root) as lock:
        rows = plan_targets(catalog_uri, store_uri, task, force, lock.version, root=root)
        results = build_targets(rows, cfg.to_dict(), store_uri, scheduler, workers, lock, root=root)
        commit = commit_target_store(store_uri, results, lock.version, root=root)
    return TargetsResult.of(commit, planned=len(rows), dataset=dataset, task=task)
