"""Shared test fixtures."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """Run every test with one intra-op thread, restoring the setting afterwards.

    CI has 2 cores shared with the pipeline subprocesses some tests start, and multi-threaded
    MKL eigen/SVD calls stall badly under contention; results do not depend on the count.
    """
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
