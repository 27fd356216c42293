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


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=[pytest.mark.gpu, CUDA]),
]


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """Each test that takes ``device`` runs on the CPU and, where one is present, on CUDA."""
    return torch.device(request.param)
