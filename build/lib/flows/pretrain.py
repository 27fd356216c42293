"""The pre-train flow: a cube store → a trained, tracked, registered 3D U-Net."""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger, runtime

from flows.options import dataset_of, gate_dev_stores, pretrain_plan, store_uri_for
from genesis_core.io.storage import redact_uri
from genesis_core.store import read_latest
from tasks.contracts.pretrain import PretrainResult, TrainSpec
from tasks.pretrain import lineage_tags, record_registration, register_model, train_model
from tasks.services import check_storage
from tasks.settings import get_settings


@flow(name="pretrain", log_prints=True)
def pretrain_flow(
    store: str | None = None,
    dataset: str | None = None,
    root: str | None = None,
    profile: Literal["tiny", "paper"] = "tiny",
    steps: int | None = None,
    transforms: str = "all",
    mode: Literal["fixed", "faithful"] = "fixed",
    seed: int = 0,
    device: str = "auto",
    resume: bool = False,
    experiment: str = "genesis-pretrain",
    model_name: str = "genesis-unet3d",
    warm_start: str | None = None,
    catalog_sha256: str | None = None,
    gpus: int = 1,
    sampling: Literal["auto", "random", "blocks"] = "auto",
    gate_dev: list[str] | None = None,
    ungated: bool = False,
) -> PretrainResult:
    """Pre-train on ``store`` (default ``ROOT/stores/DATASET.zarr``) and register the model.

    ``transforms`` picks the ablation ("all", "I&II", "III&IV", …); ``warm_start``
    is a model URI (e.g. ``models:/genesis-unet3d@champion``) to continue from.
    A finished run with the same store version and parameters is not retrained.
    ``gpus > 1`` trains data-parallel under ``torchrun`` (batch size is per GPU).
    ``sampling``: the cube order, ``random`` (uniform, the paper's) or ``blocks`` (scans
    in blocks, one request per scan: for object stores); ``auto`` picks by the store.
    Promotion passes the transfer gate (:mod:`tasks.gate`) on ``gate_dev``: target store
    URIs or task names of ``dataset`` (default ``GENESIS_GATE_DEV``, else ``ncc`` of the
    dataset when that store exists); ``ungated`` skips it (the version says so).
    """
    settings = get_settings(root)
    if store is None:
        if dataset is None:
            raise ValueError("give --store or --dataset")
        store = store_uri_for(settings.root_uri, dataset)
    check_storage(store, root=root)
    manifest = read_latest(settings.location(store))
    plan = pretrain_plan(
        settings.local_root,
        store=store,
        manifest_version=manifest.version,
        profile=profile,
        steps=steps,
        transforms=transforms,
        mode=mode,
        seed=seed,
        warm_start=warm_start,
        gpus=gpus,
        sampling=sampling,
    )
    spec = TrainSpec(
        store_uri=store,
        profile=profile,
        steps=steps,
        transform_cfg=plan.transform_cfg,
        seed=seed,
        device=device,
        resume=resume,
        experiment=experiment,
        run_dir=str(plan.run_dir),
        warm_start=warm_start,
        gpus=gpus,
        sampling=plan.sampling,
        manifest_version=manifest.version,  # one store version for the whole run
    )
    result = train_model(spec, root=root)
    tags = lineage_tags(manifest, spec, catalog_sha256, str(runtime.flow_run.id or ""))
    dev = gate_dev_stores(settings, dataset or dataset_of(settings.root_uri, store), gate_dev)
    reg = register_model(
        result, store, model_name, tags, root, manifest.version, dev, gated=not ungated
    )
    out = PretrainResult.of(
        result,
        reg,
        store_uri=store,
        run_dir=str(plan.run_dir),
        tracking_uri=redact_uri(settings.tracking_uri()),  # registered.json: no credentials
    )
    record_registration(plan.run_dir, out)
    get_run_logger().info(
        "registered %s v%s (val loss %.5f, champion: v%s)",
        model_name,
        reg.version,
        reg.val_loss,
        reg.champion_version,
    )
    return out
