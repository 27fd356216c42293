"""Streaming, resumable batch loading with background prefetch.

The sampler is a pure function of ``(seed, epoch)``: the permutation of an epoch is the
same on every run, so a resumed run continues at ``DataPosition(epoch, batch)`` and sees
exactly the batches an uninterrupted run would have seen. Reads go through the reader
one batch at a time, in a background thread a few batches ahead of the consumer, so the
accelerator never waits on storage and the dataset is never held in RAM.

Batches come out as CPU tensors: a reader's ndarray becomes one tensor, a tuple of
arrays (pair readers) a tuple of tensors; pinned if ``pin_memory`` (CUDA hosts).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

Batch = Any  # torch.Tensor or tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class DataPosition:
    """Where the next batch comes from: ``batch``-th batch (0-based) of ``epoch``."""

    epoch: int = 0
    batch: int = 0


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """The sample order of ``epoch``: a permutation of ``range(n)`` seeded by (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


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
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.rank, self.world = shard
        if not 0 <= self.rank < self.world:
            raise ValueError(f"shard must be (rank, world) with 0 <= rank < world, got {shard}")
        self.reader, self.batch_size, self.seed = reader, batch_size, seed
        self.shuffle, self.drop_last = shuffle, drop_last
        self.prefetch, self.pin_memory = max(1, prefetch), pin_memory
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
        return epoch_permutation(n, self.seed, epoch) if self.shuffle else np.arange(n)

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

        def produce() -> Iterator[tuple[DataPosition, Batch]]:
            for after, idx in self._positions(start):
                yield after, _to_tensors(self.reader.read(idx), self.pin_memory)

        return prefetch(produce, self.prefetch)

    def one_pass(self) -> Iterator[Batch]:
        """One pass over the data in epoch-0 order (validation: use ``shuffle=False``)."""

        def produce() -> Iterator[Batch]:
            order = self.order(0)
            for b in range(self.batches_per_epoch):
                yield _to_tensors(self.reader.read(self._slice(order, b)), self.pin_memory)

        return prefetch(produce, self.prefetch)


def prefetch(produce: Callable[[], Iterator[Any]], depth: int) -> Iterator[Any]:
    """Run the iterator ``produce()`` in a daemon thread, at most ``depth`` items ahead.

    Exceptions raised by the producer are re-raised in the consumer. Closing the returned
    generator (or letting it be garbage collected) stops the thread.
    """
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    thread = threading.Thread(target=_worker, args=(produce, items, stop), daemon=True)
    thread.start()
    try:
        while True:
            kind, payload = items.get()
            if kind == "done":
                return
            if kind == "error":
                raise payload
            yield payload
    finally:
        stop.set()
        thread.join(timeout=10)


def _worker(produce: Callable[[], Iterator[Any]], items: queue.Queue, stop: threading.Event):
    try:
        for item in produce():
            if not _put(items, ("item", item), stop):
                return
        _put(items, ("done", None), stop)
    except BaseException as error:  # noqa: BLE001 - handed to the consumer thread
        _put(items, ("error", error), stop)


def _put(items: queue.Queue, entry: tuple[str, Any], stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            items.put(entry, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False
