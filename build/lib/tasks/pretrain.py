"""Prefect tasks for pre-training: train (resumable, tracked), then log and register the model.

Training writes ``result.json`` into its run folder when it finishes, so a
rerun after a failed registration registers the checkpoint without retraining.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import torch
from mlflow.models.signature import ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types.schema import Schema, TensorSpec
from prefect import task
from prefect.cache_policies import NO_CACHE

from genesis_core.io.storage import Location
from genesis_core.models.networks import DEFAULT, network
from genesis_core.plots import loss_plot, restoration_montage
from genesis_core.store import Manifest
from genesis_core.training import promotion, train
from genesis_core.training.pretrain import validation_loss
from genesis_core.transforms import TransformConfig, make_validation_pairs
from tasks import ddp_pretrain, model_card, registry
from tasks.contracts.pretrain import (
    DeployedPretrain,
    PretrainResult,
    PretrainTags,
    Registration,
    TrainOutcome,
    TrainSpec,
)
from tasks.gate import DevStore, rule_from, run_gate
from tasks.progress import with_progress
from tasks.settings import get_settings
from tasks.tracking import (
    CANDIDATE,
    CHAMPION,
    MlflowSink,
    alias_version,
    code_version,
    ensure_experiment,
    manifest_sha256,
    model_id_of,
    redact_uri,
    store_dataset,
    use_tracking,
    version_for_run,
)
from tasks.training_inputs import corruption, load_weights, train_val_readers, training_profile

# Cubes (N, 1, D, H, W) float32 in [0, 1] → restored cubes, same shape.  The input is unnamed:
# a named tensor makes pyfunc pass a dict, which MLflow's PyTorch flavour refuses.
SIGNATURE = ModelSignature(
    inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 1, -1, -1, -1))]),
    outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 1, -1, -1, -1), "restored")]),
)


@task(name="pretrain-model", cache_policy=NO_CACHE)
def train_model(spec: TrainSpec, root: str | None = None) -> TrainOutcome:
    """Train (or finish training) and return the outcome; never re-trains a finished run.

    ``spec.gpus > 1`` trains data-parallel in that many ``torchrun`` processes (one per GPU;
    Gloo processes on a CPU-only machine), see :mod:`tasks.ddp_pretrain`."""
    store_uri, profile_name, steps = spec.store_uri, spec.profile, spec.steps
    transform_cfg, seed, device, resume = spec.transform_cfg, spec.seed, spec.device, spec.resume
    warm_start, gpus, sampling = spec.warm_start, spec.gpus, spec.sampling
    run_path = Path(spec.run_dir)
    done = run_path / "result.json"
    if done.exists():
        return TrainOutcome.from_dict(json.loads(done.read_text()))
    s = get_settings(root)
    use_tracking(s)
    exp_id = ensure_experiment(spec.experiment, s)
    train_r, val_r = train_val_readers(
        store_uri, sampling=sampling, root=root, version=spec.manifest_version
    )
    prof = training_profile(profile_name, steps, device, seed, transform_cfg, sampling, root=root)
    torch.manual_seed(seed)  # the initial weights follow the run's seed, not earlier RNG use
    model = network(prof.network).restorer(prof.model)
    if warm_start:
        model.load_state_dict(registry.load_state_dict(warm_start))
    corrupt = corruption(transform_cfg)
    run_id_file = run_path / "mlflow_run_id"
    run_id = run_id_file.read_text().strip() if (resume and run_id_file.exists()) else None
    run_path.mkdir(parents=True, exist_ok=True)
    with mlflow.start_run(run_id=run_id, experiment_id=exp_id, log_system_metrics=True) as run:
        run_id_file.write_text(run.info.run_id)
        sink = with_progress(MlflowSink(run.info.run_id), "pre-train", prof.loop.max_steps)
        if run_id is None:
            sink.log_params(
                {
                    "profile": profile_name,
                    "store_uri": store_uri,
                    "model": prof.model.__dict__,
                    "transforms": transform_cfg,
                    "train_cubes": len(train_r),
                    "val_cubes": len(val_r),
                    "warm_start": warm_start,
                    "gpus": gpus,
                }
            )  # the loop's own parameters are logged by the loop, once
            mlflow.log_input(store_dataset(store_uri, train_r.manifest), context="training")
            if s.log_montages:  # CT pixels: GENESIS_LOG_MONTAGES=false keeps them out
                start = run_path / "restoration_start.png"
                _montage(model, val_r, transform_cfg, start, "before training")
        ckpt_dir = run_path / "checkpoints"
        if gpus > 1:
            spec = ddp_pretrain.DdpSpec(
                store_uri=store_uri,
                profile=profile_name,
                steps=steps,
                device=device,
                seed=seed,
                transforms=transform_cfg,
                sampling=sampling,
                checkpoint_dir=str(ckpt_dir),
                resume=resume,
                run_id=run.info.run_id,
                tracking_uri=s.tracking_uri(),
                init=ddp_pretrain.save_init(model, run_path / "init.pt") if warm_start else None,
                root=root,
                manifest_version=train_r.manifest.version,
            )
            result = ddp_pretrain.launch(spec, gpus, run_path)
        else:
            result = train(model, train_r, val_r, corrupt, prof.loop, sink, ckpt_dir, resume=resume)
        if result.best_checkpoint_path:
            load_weights(model, result.best_checkpoint_path)
        _log_run_artifacts(model, val_r, transform_cfg, result, run_path, prof, s.log_montages)
    out = TrainOutcome(
        run_id=run.info.run_id,
        best_val_loss=result.best_val_loss,
        steps=result.steps,
        stop_reason=result.stop_reason,
        checkpoint=str(result.best_checkpoint_path or result.checkpoint_path),
        model_config=prof.model.__dict__,
        network=prof.network,
        loop=prof.loop.to_dict(),
        first_val_loss=result.history[0]["val_loss"] if result.history else None,
    )
    # atomic: its presence means "trained, never again", so never half-written
    Location.of(done).write_bytes_atomic(json.dumps(out.to_dict(), indent=1).encode())
    return out


def record_registration(run_dir: Path, registered: PretrainResult) -> None:
    """``registered.json``: what a rerun with nothing new prints without starting anything
    (:mod:`flows.precheck`)."""
    Location.of(run_dir / "registered.json").write_bytes_atomic(
        json.dumps(registered.to_dict(), indent=1, default=str).encode()
    )


@torch.no_grad()
def _montage(model, val_reader, transform_cfg: dict, path: Path, title: str) -> None:
    cubes = torch.from_numpy(val_reader.read(range(min(4, len(val_reader)))))[:, None]
    inputs, targets = make_validation_pairs(cubes, 1234, TransformConfig.from_dict(transform_cfg))
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    outputs = model(inputs.to(device)).cpu()
    model.train(was)
    restoration_montage(
        inputs[:, 0].numpy(), targets[:, 0].numpy(), outputs[:, 0].numpy(), path, title
    )
    mlflow.log_artifact(str(path), "montages")


def _log_run_artifacts(
    model, val_r, transform_cfg, result, run_path: Path, prof, montages: bool = True
) -> None:
    if montages:
        end = run_path / "restoration_end.png"
        _montage(model, val_r, transform_cfg, end, "after training (best weights)")
    if result.history:
        mlflow.log_artifact(str(loss_plot(result.history, run_path / "loss.png")), "plots")
    cfg = {"model": prof.model.__dict__, "loop": prof.loop.to_dict(), "transforms": transform_cfg}
    (run_path / "config.json").write_text(json.dumps(cfg, indent=1))
    mlflow.log_artifact(str(run_path / "config.json"))
    registry.log_weights(model, "restore", run_path)
    if result.history:
        first, last = result.history[0], result.history[-1]
        mlflow.log_metrics(
            {"final_val_loss": last["val_loss"], "first_val_loss": first["val_loss"]}
        )


def lineage_tags(
    manifest: Manifest, spec: TrainSpec, catalog_sha256: str | None, flow_run_id: str
) -> PretrainTags:
    """What a registered version was trained from: the store version, its catalog, the
    corruption settings, the code and the Prefect run."""
    return PretrainTags(
        catalog_sha256=catalog_sha256 or manifest.catalog_sha256(),
        cube_store_uri=redact_uri(spec.store_uri),
        manifest_version=str(manifest.version),
        manifest_sha256=manifest_sha256(manifest),
        transform_config=json.dumps(spec.transform_cfg, sort_keys=True),
        profile=spec.profile,
        code_version=code_version(),
        prefect_flow_run_id=flow_run_id,
        warm_start=spec.warm_start or "",
    )


@task(name="register-model", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=3)
def register_model(
    result: TrainOutcome,
    store_uri: str,
    model_name: str,
    tags: PretrainTags,
    root: str | None = None,
    manifest_version: int | None = None,
    dev_stores: list[DevStore] | None = None,
    gated: bool = True,
) -> Registration:
    """Log the model to its run, register a version, alias it ``candidate``; move
    ``champion`` only if the transfer gate says so (:mod:`tasks.gate`): paired linear-probe
    and few-shot comparisons with the champion on ``dev_stores``' validation splits, and
    the restoration check on the reference corruption set of ``manifest_version``, the
    store version the run trained on (never a later one).  ``gated=False`` skips the dev
    comparisons (the version says ``ungated``) and promotes on a lower reference loss."""
    settings = get_settings(root)
    use_tracking(settings)
    client = MlflowClient()
    model = _restorer(result)
    mv = version_for_run(model_name, result.run_id)
    if mv is None:
        with mlflow.start_run(run_id=result.run_id):
            info = registry.log_model(model, SIGNATURE)
        mv = registry.register_version(info, result.run_id, model_name, tags.to_dict())
    client.set_registered_model_alias(model_name, CANDIDATE, mv.version)
    _, val_r = train_val_readers(  # verified at training
        store_uri, verify_all=False, root=root, version=manifest_version
    )
    from genesis_core.training import PretrainConfig

    # every model is scored on the one reference corruption set, not on the transforms and
    # batch it trained with (genesis_core.training.promotion)
    loop = replace(
        PretrainConfig.from_dict(result.loop),
        batch_size=promotion.REFERENCE_BATCH,
        val_seed=promotion.REFERENCE_SEED,
    )
    corrupt = corruption(promotion.REFERENCE_TRANSFORMS.as_dict())
    new_loss = validation_loss(model, val_r, corrupt, loop)
    champ = alias_version(model_name, CHAMPION)
    champ_loss, gate_run, kind = None, None, "first"
    if champ is None or champ.version == mv.version:
        promoted, champion_version = True, str(mv.version)
        decision = "promoted: no champion to compare with"
    else:
        champ_model = registry.load_network(f"models:/{model_name}@{CHAMPION}")
        champ_loss = validation_loss(champ_model, val_r, corrupt, loop)
        if gated:
            gate_run = run_gate(
                model, champ_model, dev_stores or [], new_loss, champ_loss, settings
            )
            promoted, reason = gate_run.verdict.promoted, gate_run.verdict.reason
            kind = "transfer" if gate_run.dev else "restoration-only"
        else:
            ungated = promotion.decide(str(mv.version), new_loss, str(champ.version), champ_loss)
            promoted, kind = ungated.promoted, "ungated"
            reason = (
                "promoted: lower reference restoration loss (ungated)"
                if promoted
                else "kept champion: reference restoration loss not lower (ungated)"
            )
        champion_version = str(mv.version) if promoted else str(champ.version)
        decision = reason.replace("promoted:", f"promoted over v{champ.version}:", 1).replace(
            "kept champion:", f"kept champion v{champ.version}:", 1
        )
    version_tags = {
        "val_loss": f"{new_loss:.6g}",
        "val_loss_on": promotion.REFERENCE_NAME,
        "gate": kind,
        "gate_decision": decision,
    }
    if champ_loss is not None:  # the champion it was compared with, on the same pairs
        version_tags |= {
            "champion_val_loss": f"{champ_loss:.6g}",
            "compared_with": str(champ.version),
        }
    if gate_run is not None:
        version_tags["gate_dev"] = ", ".join(redact_uri(d) for d in gate_run.dev) or "none"
        version_tags["gate_rule"] = rule_from(settings).describe()
    for key, value in version_tags.items():
        client.set_model_version_tag(model_name, mv.version, key, value)
    # the reference loss under the gate's name whether or not the gate ran (the run's own
    # ``val_loss`` is on its training transforms: another number)
    figures = {"gate_ref_loss": new_loss}
    if champ_loss is not None:
        figures["gate_ref_loss_champion"] = champ_loss
    figures |= gate_run.metrics if gate_run is not None else {}
    # metrics of the version's LoggedModel: the Models view sorts and compares them
    mlflow.log_metrics(figures, run_id=result.run_id, model_id=model_id_of(mv))
    if promoted:
        client.set_registered_model_alias(model_name, CHAMPION, mv.version)
    card = model_card.pretrained(
        {**tags.to_dict(), "val_loss_on": promotion.REFERENCE_NAME, "gate": kind},
        len(val_r.manifest.scans),
        new_loss,
        decision,
        champ_loss,
        gate_run,
    )
    client.update_model_version(model_name, mv.version, description=card)
    return Registration(
        model_name=model_name,
        version=int(mv.version),
        val_loss=new_loss,
        champion_val_loss=champ_loss,
        promoted=promoted,
        champion_version=int(champion_version),
        run_id=result.run_id,
        decision=decision,
    )


def _restorer(result: TrainOutcome):
    net = network(result.network or DEFAULT)  # results written before networks were named
    model = net.restorer(net.config(**result.model_config))
    load_weights(model, Path(result.checkpoint))
    return model.eval()


def registered_outcome(model_name: str, flow_run_id: str, store_uri: str) -> DeployedPretrain:
    """The outcome of a pretrain flow run that ran elsewhere (a deployment on the GPU pool),
    read back from the registry, where its version carries the flow run id."""
    client = MlflowClient()
    found = client.search_model_versions(
        f"name='{model_name}' and tags.prefect_flow_run_id='{flow_run_id}'"
    )
    # A rerun that only re-registered an existing version: that version is the candidate.
    mv = found[0] if found else alias_version(model_name, CANDIDATE)
    champion = alias_version(model_name, CHAMPION)
    val_loss, champ_loss = mv.tags.get("val_loss"), mv.tags.get("champion_val_loss")
    return DeployedPretrain(
        model_name=model_name,
        version=int(mv.version),
        val_loss=float(val_loss) if val_loss else float("nan"),
        champion_val_loss=float(champ_loss) if champ_loss else None,
        promoted=champion is not None and champion.version == mv.version,
        champion_version=int(champion.version) if champion else None,
        run_id=mv.run_id,
        decision=mv.tags.get("gate_decision", ""),
        store_uri=store_uri,
        tracking_uri=redact_uri(mlflow.get_tracking_uri()),
        prefect_flow_run_id=flow_run_id,
    )
