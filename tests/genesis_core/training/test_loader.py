"""BatchLoader: deterministic per-epoch order, resumable positions, bounded prefetch."""

from __future__ import annotations

import threading
import time
from itertools import islice

import numpy as np
import pytest
import torch

from genesis_core.training import ArrayCubeReader, ArrayPairReader, BatchLoader, DataPosition
from genesis_core.training.loader import block_permutation, epoch_permutation


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
    assert positions == [
        DataPosition(0, 1),
        DataPosition(0, 2),
        DataPosition(1, 0),
        DataPosition(1, 1),
        DataPosition(1, 2),
        DataPosition(2, 0),
    ]
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


class GroupedReader(ArrayCubeReader):
    """An in-memory reader that knows its groups (as a cube store knows its scans)."""

    def __init__(self, cubes, sizes):
        super().__init__(cubes)
        self.sizes = list(sizes)

    def group_sizes(self):
        return self.sizes


def _groups(sizes):
    return np.repeat(np.arange(len(sizes)), sizes)


def test_block_order_sees_every_sample_once_and_keeps_blocks_together():
    sizes = [5, 3, 8, 1, 6, 4, 7, 2, 9, 5]  # 50 samples in 10 groups
    group_of = _groups(sizes)
    for epoch in range(3):
        order = block_permutation(sizes, seed=7, epoch=epoch, block=3)
        assert sorted(order.tolist()) == list(range(50))  # exactly once per epoch
        assert np.array_equal(order, block_permutation(sizes, 7, epoch, 3))  # a pure function
        bounds = np.cumsum([0] + [sum(sizes[g] for g in blk) for blk in _blocks(order, group_of)])
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            assert len(set(group_of[order[lo:hi]])) <= 3  # a block mixes at most 3 groups
    assert not np.array_equal(block_permutation(sizes, 7, 0, 3), block_permutation(sizes, 7, 1, 3))


def _blocks(order, group_of):
    """The groups of each block, in the order the blocks come (blocks of 3 groups)."""
    seen: list = []
    for g in group_of[order]:
        if g not in seen:
            seen.append(g)
    return [seen[i : i + 3] for i in range(0, len(seen), 3)]


def test_block_sampling_resumes_exactly_and_workers_do_not_change_the_batches():
    sizes = [4, 6, 5, 3, 7, 5]
    reader = GroupedReader(_data(30), sizes)
    one = BatchLoader(reader, 4, seed=3, sampling="blocks", block_scans=2)
    straight = [_ids(b) for _, b in islice(one.stream(), 12)]
    head = list(islice(one.stream(), 5))
    resumed = [_ids(b) for _, b in islice(one.stream(head[-1][0]), 7)]
    assert [_ids(b) for _, b in head] + resumed == straight
    many = BatchLoader(reader, 4, seed=3, sampling="blocks", block_scans=2, workers=3, prefetch=5)
    assert [_ids(b) for _, b in islice(many.stream(), 12)] == straight
    epoch0 = sum(straight[: one.batches_per_epoch], [])
    assert epoch0 == block_permutation(sizes, 3, 0, 2)[: len(epoch0)].tolist()


def test_block_sampling_without_groups_is_uniform_and_bad_values_are_refused():
    loader = BatchLoader(ArrayCubeReader(_data(10)), 3, seed=1, sampling="blocks")
    assert np.array_equal(loader.order(0), epoch_permutation(10, 1, 0))
    with pytest.raises(ValueError, match="sampling"):
        BatchLoader(ArrayCubeReader(_data(10)), 3, sampling="shuffled")


def test_errors_of_any_worker_reach_the_consumer_in_order():
    class FailsAt(ArrayCubeReader):
        def read(self, indices):
            if 5 in indices:
                raise OSError("bad sector")
            return super().read(indices)

    stream = BatchLoader(FailsAt(_data(12)), 1, shuffle=False, workers=4).stream()
    assert [_ids(next(stream)[1]) for _ in range(5)] == [[0], [1], [2], [3], [4]]
    with pytest.raises(OSError, match="bad sector"):
        next(stream)
