"""Suite-wide settings.

The suite runs on small machines (2 cores in CI) where PyTorch's default of one
thread per core makes the many tiny per-step matrix products of the neuron and
emulator loops slower, not faster, and much slower when anything else runs. One
thread per test process keeps the suite's time steady. Subprocesses inherit it.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # the package itself needs torch; this only keeps collection errors readable
    pass
