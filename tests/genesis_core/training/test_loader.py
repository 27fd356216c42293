"""BatchLoader: deterministic per-epoch order, resumable positions, bounded prefetch."""

from __future__ import annotations

import threading
import time
from itertools import islice

import numpy as np
import pytest
import torch

from genesis_core.training import ArrayCubeReader, ArrayPairReader, BatchLoader, DataPosition
from genesis_core.training.loader import epoch_permutation


class SpyReader(ArrayCubeReader):
    """Records every read request."""

    def __init__(self, cubes, delay: float = 0.0):
        super().__init__(cubes)
        self.requests: list[list[int]] = []
        self.delay = delay

    def read(self, indices):
        self.requests.append(list(indices))
        time.sleep(self.delay)
        return super().read(indices)


def _data(n=10):
    return np.arange(n, dtype=np.float32)[:, None, None, None] * np.ones((1, 2, 2, 2), np.float32)


def _ids(batch):
    return batch[:, 0, 0, 0].long().tolist()


def test_epoch_order_depends_on_seed_and_epoch_only():
    a, b = epoch_permutation(50, 3, 0), epoch_permutation(50, 3, 0)
    assert np.array_equal(a, b) and sorted(a) == list(range(50))
    assert not np.array_equal(a, epoch_permutation(50, 3, 1))
    assert not np.array_equal(a, epoch_permutation(50, 4, 0))


def test_stream_covers_each_epoch_once_and_reports_positions():
    loader = BatchLoader(ArrayCubeReader(_data(10)), 3, seed=1)  # 3 batches, 1 sample dropped
    items = list(islice(loader.stream(), 6))
    positions = [p for p, _ in items]
    assert positions == [DataPosition(0, 1), DataPosition(0, 2), DataPosition(1, 0),
                         DataPosition(1, 1), DataPosition(1, 2), DataPosition(2, 0)]  # fmt: skip
    first_epoch = sum((_ids(b) for _, b in items[:3]), [])
    assert first_epoch == epoch_permutation(10, 1, 0)[:9].tolist()
    assert all(b.dtype == torch.float32 and b.shape == (3, 2, 2, 2) for _, b in items)


def test_stream_resumes_exactly_where_it_stopped():
    loader = BatchLoader(ArrayCubeReader(_data(10)), 3, seed=5)
    straight = [_ids(b) for _, b in islice(loader.stream(), 7)]
    head = list(islice(loader.stream(), 4))
    resumed = [_ids(b) for _, b in islice(loader.stream(head[-1][0]), 3)]
    assert [_ids(b) for _, b in head] + resumed == straight


def test_reads_one_batch_at_a_time_and_prefetch_is_bounded():
    reader = SpyReader(_data(40))
    stream = BatchLoader(reader, 4, prefetch=2).stream()
    next(stream)
    deadline = time.time() + 5
    while len(reader.requests) < 3 and time.time() < deadline:  # reads ahead of the consumer
        time.sleep(0.01)
    time.sleep(0.2)
    assert all(len(r) == 4 for r in reader.requests)
    assert 3 <= len(reader.requests) <= 4  # consumed 1, queue of 2, at most one blocked in put
    stream.close()


def test_closing_the_stream_stops_the_reader_thread():
    before = threading.active_count()
    stream = BatchLoader(SpyReader(_data(40), delay=0.01), 4).stream()
    next(stream)
    stream.close()
    deadline = time.time() + 5
    while threading.active_count() > before and time.time() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before


def test_reader_errors_reach_the_consumer():
    class Broken(ArrayCubeReader):
        def read(self, indices):
            raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        next(BatchLoader(Broken(_data(8)), 2).stream())


def test_one_pass_is_ordered_and_keeps_the_last_partial_batch():
    loader = BatchLoader(ArrayCubeReader(_data(7)), 3, shuffle=False, drop_last=False)
    assert [_ids(b) for b in loader.one_pass()] == [[0, 1, 2], [3, 4, 5], [6]]


def test_pair_readers_give_tuples_of_tensors():
    reader = ArrayPairReader(_data(6), np.arange(6, dtype=np.float32))
    inputs, targets = next(BatchLoader(reader, 2, shuffle=False).one_pass())
    assert inputs.shape == (2, 2, 2, 2) and targets.tolist() == [0.0, 1.0]


def test_too_few_samples_for_a_batch_is_an_error():
    with pytest.raises(ValueError, match="no batch"):
        BatchLoader(ArrayCubeReader(_data(3)), 4)
