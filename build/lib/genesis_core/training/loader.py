"""Streaming, resumable batch loading with background prefetch.

The sampler is a pure function of ``(seed, epoch)``: the permutation of an epoch is the
same on every run, so a resumed run continues at ``DataPosition(epoch, batch)`` and sees
exactly the batches an uninterrupted run would have seen. Reads go through the reader
one batch at a time, in ``workers`` background threads a few batches ahead of the
consumer (batches still come out in order), so the accelerator never waits on storage
and the dataset is never held in RAM.

Two orders (``sampling``): ``"random"``, a uniform permutation of all samples (the
paper's); ``"blocks"``, for readers that know their groups (a cube store's scans):
the scans are permuted, cut into blocks of ``block_scans``, and the samples of each
block permuted among themselves.  Every sample is still seen once per epoch, and a
batch mixes the cubes of ``block_scans`` scans, but each scan is read once per epoch
as a whole (one request) instead of one request per cube.

Batches come out as CPU tensors: a reader's ndarray becomes one tensor, a tuple of
arrays (pair readers) a tuple of tensors; pinned if ``pin_memory`` (CUDA hosts).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from genesis_core.training.config import SAMPLINGS

Batch = Any  # torch.Tensor or tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class DataPosition:
    """Where the next batch comes from: ``batch``-th batch (0-based) of ``epoch``."""

    epoch: int = 0
    batch: int = 0


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """The sample order of ``epoch``: a permutation of ``range(n)`` seeded by (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def block_permutation(sizes: Sequence[int], seed: int, epoch: int, block: int) -> np.ndarray:
    """A permutation of all samples that keeps groups together in blocks of ``block`` groups.

    ``sizes``: samples per group, groups numbered consecutively (group g holds samples
    ``sum(sizes[:g])`` … ``sum(sizes[:g+1]) − 1``).  The groups are permuted, cut into
    blocks of ``block`` groups, and each block's samples permuted; a pure function of
    ``(seed, epoch)``.
    """
    if block < 1:
        raise ValueError(f"block must be >= 1 group, got {block}")
    rng = np.random.default_rng([seed, epoch, 1])
    starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
    groups = rng.permutation(len(sizes))
    parts = [np.empty(0, dtype=np.int64)]
    for first in range(0, len(groups), block):
        members = groups[first : first + block]
        parts.append(
            rng.permutation(np.concatenate([np.arange(starts[g], starts[g + 1]) for g in members]))
        )
    return np.concatenate(parts)


def _to_tensors(arrays: Any, pin: bool) -> Batch:
    if isinstance(arrays, tuple | list):
        return tuple(_to_tensors(a, pin) for a in arrays)
    tensor = torch.from_numpy(np.ascontiguousarray(arrays))
    return tensor.pin_memory() if pin else tensor


class BatchLoader:
    """Batches from a reader (``len()`` + ``read(indices)``), shuffled per epoch.

    ``drop_last`` drops an incomplete final batch so every step sees ``batch_size``
    samples (BatchNorm statistics stay comparable).  ``shard=(rank, world)`` (data-parallel
    training) cuts the epoch into global batches of ``batch_size × world`` samples and
    yields this rank's ``batch_size`` of each; positions count global batches.
    ``sampling="blocks"`` needs ``reader.group_sizes()``; a reader without groups (an
    in-memory array) is sampled uniformly.
    """

    def __init__(
        self,
        reader: Any,
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
        prefetch: int = 3,
        pin_memory: bool = False,
        shard: tuple[int, int] = (0, 1),
        sampling: str = "random",
        block_scans: int = 16,
        workers: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
        if block_scans < 1 or workers < 1:
            raise ValueError(f"block_scans and workers must be >= 1, got {block_scans}, {workers}")
        self.rank, self.world = shard
        if not 0 <= self.rank < self.world:
            raise ValueError(f"shard must be (rank, world) with 0 <= rank < world, got {shard}")
        self.reader, self.batch_size, self.seed = reader, batch_size, seed
        self.shuffle, self.drop_last = shuffle, drop_last
        self.prefetch, self.pin_memory = max(1, prefetch), pin_memory
        self.sampling, self.block_scans, self.workers = sampling, block_scans, workers
        self._sizes = reader.group_sizes() if hasattr(reader, "group_sizes") else None
        if self.batches_per_epoch == 0:
            raise ValueError(f"{len(reader)} samples give no batch of {self.global_batch}")

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.world

    @property
    def batches_per_epoch(self) -> int:
        n, g = len(self.reader), self.global_batch
        return n // g if self.drop_last else -(-n // g)

    def order(self, epoch: int) -> np.ndarray:
        """Sample order of ``epoch`` (the identity if not shuffling)."""
        n = len(self.reader)
        if not self.shuffle:
            return np.arange(n)
        if self.sampling == "blocks" and self._sizes is not None:
            return block_permutation(self._sizes, self.seed, epoch, self.block_scans)
        return epoch_permutation(n, self.seed, epoch)

    def _slice(self, order: np.ndarray, batch: int) -> list[int]:
        first = batch * self.global_batch + self.rank * self.batch_size
        return order[first : first + self.batch_size].tolist()

    def _positions(self, start: DataPosition) -> Iterator[tuple[DataPosition, list[int]]]:
        epoch, batch, last = start.epoch, start.batch, self.batches_per_epoch - 1
        while True:
            order = self.order(epoch)
            for b in range(batch, last + 1):
                after = DataPosition(epoch + 1, 0) if b == last else DataPosition(epoch, b + 1)
                yield after, self._slice(order, b)
            epoch, batch = epoch + 1, 0

    def stream(self, start: DataPosition = DataPosition()) -> Iterator[tuple[DataPosition, Batch]]:
        """Endless ``(position_after, batch)`` from ``start`` on, across epochs.

        ``position_after`` is where a resumed run must start to continue after this
        batch (exactly, if the reader still has the same length). Stop by abandoning (or
        ``close()``-ing) the iterator; the reader thread then ends.
        """

        def read(item: tuple[DataPosition, list[int]]) -> tuple[DataPosition, Batch]:
            after, idx = item
            return after, _to_tensors(self.reader.read(idx), self.pin_memory)

        return ordered_map(read, self._positions(start), self.workers, self.prefetch)

    def one_pass(self) -> Iterator[Batch]:
        """One pass over the data in epoch-0 order (validation: use ``shuffle=False``)."""
        order = self.order(0)
        batches = (self._slice(order, b) for b in range(self.batches_per_epoch))

        def read(idx: list[int]) -> Batch:
            return _to_tensors(self.reader.read(idx), self.pin_memory)

        return ordered_map(read, batches, self.workers, self.prefetch)


def ordered_map(
    fn: Callable[[Any], Any], items: Iterable[Any], workers: int, depth: int
) -> Iterator[Any]:
    """``fn(item)`` for each item, in order, computed by ``workers`` threads ahead of the consumer.

    At most ``max(depth, workers)`` items are in flight or waiting to be consumed.  An
    exception raised by ``fn`` is re-raised in the consumer.  Closing the returned
    generator (or letting it be garbage collected) cancels what has not started; the
    threads end after the item they are on.
    """
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="genesis-loader")
    source, pending = iter(items), deque()
    try:
        for item in source:
            pending.append(pool.submit(fn, item))
            if len(pending) >= max(depth, workers):
                break
        while pending:
            result = pending.popleft().result()
            for item in source:
                pending.append(pool.submit(fn, item))
                break
            yield result
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
