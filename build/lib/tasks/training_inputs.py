"""What a pre-training process needs before its loop: readers, corruption, profile, weights.

Shared by the ``pretrain-model`` task and every rank of :mod:`tasks.ddp_pretrain`, which
both import it (neither imports the other's module for it).
"""

from __future__ import annotations

from pathlib import Path

import torch

from genesis_core.store import CubeStore
from genesis_core.store.manifest import read_version
from genesis_core.training import load_checkpoint
from genesis_core.training.profiles import Profile, profile
from genesis_core.transforms import TransformConfig, make_pairs
from tasks.settings import get_settings


def corruption(transform_cfg: dict):
    cfg = TransformConfig.from_dict(transform_cfg)
    return lambda cubes, generator: make_pairs(cubes, generator, cfg)


def train_val_readers(
    store_uri: str,
    verify_all: bool = True,
    sampling: str = "random",
    root: str | None = None,
    version: int | None = None,
) -> tuple[CubeStore, CubeStore]:
    """Train and validation views of store version ``version`` (the run's, fixed when it
    started: a commit landing mid-run changes neither training, validation nor the
    champion comparison; ``None``: the latest).  ``verify_all`` checks every scan first
    (the training task does, once per run); the readers verify any scan they touch
    regardless.  Block sampling reads whole scans; random sampling reads single cubes
    unless the store fits the cache."""
    s = get_settings(root)
    where = s.location(store_uri)
    store = CubeStore(
        where,
        manifest=None if version is None else read_version(where, version),
        cache_mb=s.read_cache_mb,
        whole_scans=True if sampling == "blocks" else None,
    )
    if len(store) == 0:
        raise ValueError(
            f"cube store {store_uri} has no committed cubes: run `genesis preprocess` first"
        )
    if verify_all:
        store.verify_store()  # refuse a damaged store before training on any of it
    sp = store.split()
    val = sp["val"] if len(sp["val"]) else sp["test"]
    if len(sp["train"]) == 0 or len(val) == 0:
        raise ValueError(
            f"{store_uri}: need scans in both train and validation splits, got "
            f"{ {k: len(v.scan_ids) for k, v in sp.items()} }"
        )
    return sp["train"], val


def training_profile(
    name: str,
    steps: int | None,
    device: str,
    seed: int,
    transform_cfg: dict,
    sampling: str,
    root: str | None = None,
) -> Profile:
    """The named profile with this node's read-path settings (logged with the loop config)."""
    s = get_settings(root)
    prof = profile(name, steps, device, seed, transform_cfg.get("mode", "fixed"))
    prof.loop.sampling, prof.loop.block_scans = sampling, s.block_scans
    prof.loop.loader_workers = s.loader_workers
    return prof


def load_weights(model: torch.nn.Module, checkpoint: Path) -> None:
    model.load_state_dict(load_checkpoint(checkpoint)["model"])
