"""Stage parameters as the CLI and the flows take them: parsed and checked without Prefect.

The flows take typed values (``spacing=(1.0, 1.0, 1.0)``, ``cube=(64, 64, 32)``, lists of
labels, inits and fractions); the ``parse_*`` functions turn the CLI's comma strings into
those, and only the ``genesis`` command calls them.  It validates every option here before
anything starts (so a bad ``--spacing`` is one line naming the option, at once), and the
flows build their configs with the same ``check_*`` functions.  Default store locations live
here too, so the CLI can tell "nothing to do" without starting the orchestration.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from genesis_core.cubes.acceptance import ACCEPT_ALL, LUNG
from genesis_core.cubes.sampling import SPEC_BORDER_XYZ, SamplingConfig
from genesis_core.io import storage
from genesis_core.preprocess import PreprocessConfig
from genesis_core.target_tasks import target_task
from tasks.contracts.pretrain import PretrainPlan

Spacing = tuple[float, float, float]  # X,Y,Z mm; None where a flow takes it means native
Cube = tuple[int, int, int]  # X,Y,Z voxels, each a multiple of 8
Border = tuple[int, int, int] | Literal["auto"]  # X,Y,Z voxels, or scaled to the scan


# A source folder's name may be a patient's (a hospital export named after the patient), so
# it never names a catalog (``--dataset`` is required) and a flow records it masked: the CLI
# passes sources as ``SecretStr``, which Prefect stores as ``**********`` in the flow run's
# parameters; the catalog (the data plane) keeps every scan's source URI.
Source = str | SecretStr


def private(source: str) -> SecretStr:
    """A source URI as a flow parameter that Prefect records masked."""
    return source if isinstance(source, SecretStr) else SecretStr(str(source))


def reveal(source: Source) -> str:
    return source.get_secret_value() if isinstance(source, SecretStr) else str(source)


def store_uri_for(root_uri: str, dataset: str) -> str:
    return storage.join(root_uri, "stores", f"{dataset}.zarr")


def dataset_of(root_uri: str, store: str) -> str | None:
    """The dataset whose default cube store ``store`` is (``ROOT/stores/DATASET.zarr``)."""
    head, _, name = store.rstrip("/").rpartition("/")
    if name.endswith(".zarr") and head == storage.join(root_uri, "stores"):
        return name.removesuffix(".zarr")
    return None


def gate_dev_stores(settings: Any, dataset: str | None, names: list[str] | None) -> list:
    """The transfer gate's dev stores: ``names`` (else ``GENESIS_GATE_DEV``, comma-separated),
    each a target store URI or a target name of ``dataset`` (``ncc``, ``seg:liver``); by
    default ``ncc`` of ``dataset``, used only if that store exists.  A store named by the
    user that does not exist fails the gate, with its URI."""
    from tasks.gate import DevStore

    if names is None and settings.gate_dev:
        names = [n.strip() for n in settings.gate_dev.split(",") if n.strip()]
    explicit = names is not None
    out = []
    for name in names if explicit else ["ncc"]:
        if "/" in name or name.endswith(".zarr"):
            out.append(DevStore(name, explicit))
        elif dataset is None:
            if explicit:
                raise ValueError(
                    f"gate dev store {name!r}: a task name needs --dataset (or give the URI)"
                )
        else:
            task, _, label = name.partition(":")
            out.append(
                DevStore(
                    target_store_uri(settings.root_uri, dataset, task, label or None), explicit
                )
            )
    return out


def parse_spacing(spacing: str) -> Spacing | None:
    """The CLI's ``--spacing``: ``native`` (None), one value, or ``X,Y,Z`` mm."""
    if spacing.strip().lower() == "native":
        return None
    try:
        parts = tuple(float(p) for p in spacing.split(","))
    except ValueError:
        parts = ()
    if len(parts) == 1:
        parts = parts * 3
    try:
        return check_spacing(parts)  # type: ignore[arg-type]
    except ValueError:
        raise ValueError(
            f"spacing must be 'native', one value or X,Y,Z in mm (> 0), got {spacing!r}"
        ) from None


def check_spacing(spacing: Sequence[float] | None) -> Spacing | None:
    """``None`` (native) or three sides in mm, each > 0 and finite."""
    if spacing is None:
        return None
    parts = tuple(float(p) for p in spacing)
    if len(parts) != 3 or not all(0 < p < float("inf") for p in parts):
        raise ValueError(f"spacing must be None (native) or X,Y,Z in mm (> 0), got {spacing!r}")
    return parts  # type: ignore[return-value]


def parse_border(border: str) -> Border:
    """The CLI's ``--border``: ``auto`` or ``X,Y,Z`` voxels."""
    if border.strip().lower() == "auto":
        return "auto"
    try:
        return check_border(tuple(int(p) for p in border.split(",")))  # type: ignore[arg-type]
    except ValueError:
        raise ValueError(f"border must be 'auto' or X,Y,Z voxels (>= 0), got {border!r}") from None


def check_border(border: Sequence[int] | str) -> Border:
    if isinstance(border, str):
        if border.strip().lower() == "auto":
            return "auto"
        raise ValueError(f"border must be 'auto' or X,Y,Z voxels (>= 0), got {border!r}")
    parts = tuple(int(p) for p in border)
    if len(parts) != 3 or min(parts) < 0:
        raise ValueError(f"border must be 'auto' or X,Y,Z voxels (>= 0), got {border!r}")
    return parts  # type: ignore[return-value]


# --preset paper: the reference's cubes exactly (SPEC §1): native spacing, borders of
# 100/100/30 voxels, and scans too small for those borders skipped (no cubes, a reason).
PRESETS: dict[str, dict[str, Any]] = {"paper": {"spacing": None, "border": tuple(SPEC_BORDER_XYZ)}}


def build_config(
    spacing: Sequence[float] | None = (1.0, 1.0, 1.0),
    cube: Sequence[int] = (64, 64, 32),
    cubes_per_scan: int = 32,
    seed: int = 0,
    acceptance: Literal["lung", "none"] = "lung",
    border: Sequence[int] | Literal["auto"] = "auto",
    preset: Literal["default", "paper"] = "default",
) -> PreprocessConfig:
    if preset != "default":
        spacing, border = PRESETS[preset]["spacing"], PRESETS[preset]["border"]
    sampling = SamplingConfig(
        cube_xyz=check_cube(cube),
        n=cubes_per_scan,
        border_xyz=check_border(border),
        acceptance=LUNG if acceptance == "lung" else ACCEPT_ALL,
    )
    return PreprocessConfig(spacing_xyz=check_spacing(spacing), sampling=sampling, seed=seed)


def parse_cube(cube: str) -> Cube:
    """The CLI's ``--cube``: ``X,Y,Z`` voxels, each side a positive multiple of 8."""
    try:
        return check_cube(tuple(int(c) for c in cube.split(",")))
    except ValueError:
        raise ValueError(
            f"cube must be X,Y,Z with each side divisible by 8, got {cube!r}"
        ) from None


def check_cube(cube: Sequence[int]) -> Cube:
    """``X,Y,Z`` voxels, each side a positive multiple of 8 (three 2× poolings)."""
    cube_xyz = tuple(int(c) for c in cube)
    if len(cube_xyz) != 3 or any(c <= 0 or c % 8 for c in cube_xyz):
        raise ValueError(f"cube must be X,Y,Z with each side divisible by 8, got {cube!r}")
    return cube_xyz  # type: ignore[return-value]


def parse_list(text: str) -> list[str]:
    """The CLI's comma-separated lists (``--inits``, ``--label``): the non-empty items."""
    return [i.strip() for i in text.split(",") if i.strip()]


def label_text(label: str | Sequence[str] | None) -> str | None:
    """A target's label as one string (``["1", "2"]`` → ``"1,2"``): how stores and models
    are named after it, the same as when the CLI's ``--label 1,2`` was passed through."""
    if label is None or isinstance(label, str):
        return label
    return ",".join(label) or None


def label_slug(label: str | Sequence[str]) -> str:
    """A name part for ``--label`` (``"spleen"`` → ``spleen``, ``"1,2"`` or ``["1", "2"]`` →
    ``1-2``)."""
    label = label_text(label) or ""
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    if not slug:
        raise ValueError(f"label {label!r} has no letters or digits to name a store after")
    return slug


def target_name(dataset: str, task: str, label: str | Sequence[str] | None = None) -> str:
    """``DATASET-TASK``, plus the label when one is named (``spleen-seg-spleen``): two labels
    of one dataset never share a store or a model.  ``seg`` always names one."""
    if label:
        return f"{dataset}-{task}-{label_slug(label)}"
    if target_task(task).needs_label:
        raise ValueError(f"task {task!r} needs --label: its store and model are named after it")
    return f"{dataset}-{task}"


def default_model_name(
    task: str, dataset: str | None, label: str | Sequence[str] | None, store: str
) -> str:
    """``genesis-TASK`` for the paper's tasks; a labelled target's champion is per dataset and
    label (``genesis-seg-DATASET-LABEL``), or named after its store's folder."""
    if not label and not target_task(task).needs_label:
        return f"genesis-{task}"
    if dataset and label:
        return f"genesis-{task}-{dataset}-{label_slug(label)}"
    stem = store.rstrip("/").rsplit("/", 1)[-1].removesuffix(".zarr")
    return f"genesis-{task}-{stem.removesuffix(f'-{task}')}"


def target_store(
    root_uri: str,
    task: str,
    dataset: str | None,
    store: str | None,
    label: str | Sequence[str] | None,
) -> str:
    """``store`` as given, or the default target store of ``dataset`` (and ``label``)."""
    if store:
        return store
    if dataset is None:
        raise ValueError("give --store or --dataset")
    return target_store_uri(root_uri, dataset, task, label)


def target_store_uri(
    root_uri: str, dataset: str, task: str, label: str | Sequence[str] | None = None
) -> str:
    return storage.join(root_uri, "targets", f"{target_name(dataset, task, label)}.zarr")


def resolve_sampling(sampling: str, store_uri: str) -> str:
    """``auto``: ``blocks`` for an object store (one request per scan instead of one per
    cube), ``random`` (the paper's uniform order) for a local store, fast either way."""
    if sampling not in ("auto", "random", "blocks"):
        raise ValueError(f"sampling must be auto, random or blocks, got {sampling!r}")
    if sampling == "auto":
        return "blocks" if storage.is_remote(store_uri) else "random"
    return sampling


def run_key(store_uri: str, manifest_version: int, params: dict[str, Any]) -> str:
    """Deterministic run folder name: same store version and parameters → same run."""
    blob = json.dumps({"store": store_uri, "manifest": manifest_version, **params}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def pretrain_plan(
    local_root: Path,
    *,
    store: str,
    manifest_version: int,
    profile: str,
    steps: int | None,
    transforms: str,
    mode: str,
    seed: int,
    warm_start: str | None,
    gpus: int,
    sampling: str,
) -> PretrainPlan:
    """The transform config, resolved sampling and run folder of a pre-training run: the folder
    is the same for the same store version and parameters, so a finished run is found."""
    from genesis_core.transforms import TransformConfig, ablation_switches  # torch: only here

    tcfg = TransformConfig(**ablation_switches(transforms), mode=mode)
    tdict = tcfg.as_dict()
    params = {
        "profile": profile,
        "steps": steps,
        "transforms": tdict,
        "seed": seed,
        "warm": warm_start,
    }
    if gpus > 1:  # another training: its own run folder (one-GPU keys stay as they were)
        params["gpus"] = gpus
    sampling = resolve_sampling(sampling, store)
    if sampling != "random":  # likewise: the random order keeps the keys it always had
        params["sampling"] = sampling
    run_dir = local_root / "runs" / "pretrain" / run_key(store, manifest_version, params)
    return PretrainPlan(transform_cfg=tdict, sampling=sampling, run_dir=run_dir)
