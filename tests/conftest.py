"""Suite-wide settings.

The suite runs on small machines (2 cores in CI) where PyTorch's default of one
thread per core makes the many tiny per-step matrix products of the neuron and
emulator loops slower, not faster, and much slower when anything else runs. One
thread per test process keeps the suite's time steady. Subprocesses inherit it.
"""

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import torch  # noqa: E402  (after the thread settings above, which it reads when it loads)

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _one_thread():
    """Each test starts with one PyTorch thread, whatever the previous test set (the
    commands' ``--threads`` option sets PyTorch's thread count in the test process)."""
    torch.set_num_threads(1)
    yield
