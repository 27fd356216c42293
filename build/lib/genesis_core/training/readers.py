"""What the training loops read from: small random-access protocols over a dataset.

A :class:`CubeReader` serves unlabeled cubes for pre-training; a :class:`PairReader`
serves ``(inputs, targets)`` for fine-tuning. Both are indexed by sample number and read
a few samples at a time, so a store far larger than RAM can back them (the Zarr cube
store implements them elsewhere). The in-memory versions here are for tests and small data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class CubeReader(Protocol):
    """``read(indices)`` → float32 array (n, D, H, W) with values in [0, 1]."""

    def __len__(self) -> int: ...

    def read(self, indices: Sequence[int]) -> np.ndarray: ...


@runtime_checkable
class PairReader(Protocol):
    """``read(indices)`` → ``(inputs, targets)``, both with leading axis n.

    inputs: float32 (n, D, H, W) or (n, C, D, H, W); targets: e.g. (n,) class labels
    or (n, D, H, W) masks.
    """

    def __len__(self) -> int: ...

    def read(self, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]: ...


class ArrayCubeReader:
    """A :class:`CubeReader` over an in-memory (n, D, H, W) array (no copy until read)."""

    def __init__(self, cubes: np.ndarray) -> None:
        if cubes.ndim != 4:
            raise ValueError(f"expected (n, D, H, W), got shape {cubes.shape}")
        self.cubes = cubes

    def __len__(self) -> int:
        return len(self.cubes)

    def read(self, indices: Sequence[int]) -> np.ndarray:
        return np.asarray(self.cubes[np.asarray(indices, dtype=np.int64)], dtype=np.float32)


class ArrayPairReader:
    """A :class:`PairReader` over in-memory ``inputs`` and ``targets`` arrays."""

    def __init__(self, inputs: np.ndarray, targets: np.ndarray) -> None:
        if len(inputs) != len(targets):
            raise ValueError(f"{len(inputs)} inputs but {len(targets)} targets")
        self.inputs, self.targets = inputs, targets

    def __len__(self) -> int:
        return len(self.inputs)

    def read(self, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        idx = np.asarray(indices, dtype=np.int64)
        return (
            np.asarray(self.inputs[idx], dtype=np.float32),
            np.asarray(self.targets[idx], dtype=np.float32),
        )
