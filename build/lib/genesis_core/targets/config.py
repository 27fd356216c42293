"""`TargetConfig`: everything that decides a target-task store's content; its hash keys the store.

Tasks (SPEC §4):

* ``ncc`` — lung-nodule false-positive reduction: one cube per LUNA16 ``candidates.csv``
  row, label = its class.  Classes are very imbalanced (≈ 1 positive per 500
  candidates in LUNA16); by default every negative is kept and balancing is left to the
  loader (:meth:`TargetStore.labels`); ``max_negatives`` caps them per scan instead.
* ``lcs`` — liver segmentation (LiTS): ``n`` image/mask pairs per scan, a
  ``foreground_ratio`` of them centred on foreground; foreground = label ∈ ``labels``
  (``(1,)`` liver only, ``(1, 2)`` liver including tumours).
* ``ncs`` — lung-nodule segmentation: one pair centred on each ``annotations.csv`` nodule,
  mask = the annotated sphere (``diameter_mm``), plus ``n_random`` uniform cubes.
* ``seg`` — any labelled dataset (an MSD task, say): the ``lcs`` sampling with the
  foreground ``labels`` the user names (``--label spleen``, resolved through the
  dataset's ``dataset.json``, or label values).

Sizes are (X, Y, Z) voxels and spacings (X, Y, Z) mm (see :mod:`genesis_core.axes`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from genesis_core.axes import xyz_to_zyx
from genesis_core.target_tasks import TARGET_TASKS, TaskName, target_task

TASKS: tuple[str, ...] = tuple(TARGET_TASKS)


@dataclass(frozen=True)
class TargetConfig:
    """How one target task's cubes are built.

    ``spacing_xyz`` None keeps native spacing (the paper's setting).  ``window`` (HU) is
    applied by the reader, cubes are stored as int16 HU.  ``seed`` drives all random
    choices, per scan through :func:`genesis_core.cubes.rng.rng_for`.
    """

    task: TaskName = "ncc"
    spacing_xyz: tuple[float, float, float] | None = (1.0, 1.0, 1.0)
    cube_xyz: tuple[int, int, int] = (64, 64, 32)
    n: int = 32
    foreground_ratio: float = 0.5
    labels: tuple[int, ...] = (1,)
    seed: int = 0
    window: tuple[float, float] = (-1000.0, 1000.0)
    max_negatives: int | None = None
    n_random: int = 0
    interpolation: str = "linear"

    def __post_init__(self) -> None:
        target_task(self.task)  # an unknown task is an error naming the known ones
        if len(self.cube_xyz) != 3 or min(self.cube_xyz) < 1:
            raise ValueError(f"cube_xyz must be 3 positive sizes, got {self.cube_xyz}")
        if not 0.0 <= self.foreground_ratio <= 1.0:
            raise ValueError(f"foreground_ratio must be in [0, 1], got {self.foreground_ratio}")
        if self.n < 0 or self.n_random < 0 or (self.max_negatives or 0) < 0:
            raise ValueError("n, n_random and max_negatives must be >= 0")
        if not self.window[0] < self.window[1]:
            raise ValueError(f"window must be (lo, hi) with lo < hi, got {self.window}")

    @property
    def is_classification(self) -> bool:
        return target_task(self.task).classification

    @property
    def cube_zyx(self) -> tuple[int, int, int]:
        return xyz_to_zyx(self.cube_xyz)  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cube_zyx"] = list(self.cube_zyx)
        return d

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TargetConfig:
        kw = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k in ("spacing_xyz", "cube_xyz", "labels", "window"):
            if kw.get(k) is not None:
                kw[k] = tuple(kw[k])
        return cls(**kw)
