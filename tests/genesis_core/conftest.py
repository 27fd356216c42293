"""One intra-op torch thread for the core tests: tiny 3D convs gain nothing from more, and on a
busy 2-core machine OpenMP threads spinning against other processes cost 5× the time."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
