"""Lava's own bit-accurate ``DelayDense`` / ``DelaySparse`` models, with their delay matrix built once.

lava-nc 0.10's ``PyDelaySparseModelBitAcc`` and ``PyDelayDenseModelBitAcc`` rebuild, on every
step, the matrix that stacks the weights by delay (``get_delay_wgts_mat``: ``max_delay + 1``
masked copies of the weights), although the weights and delays of these processes never
change after the first step. With a convolution's taps (delays up to 12 steps, hundreds of
replicated copies) that rebuild is nearly all of the run time. These subclasses keep every
line of Lava's arithmetic (the weights clipped and truncated on the first step, the same
stacked matrix, the same product, roll and shift) and only build the stacked matrix once,
on the first step, after the truncation. The integer product of the dense model is taken
with ``dot`` instead of Lava's ``sum(W * s, axis=1)``: equal for integers. Used for
``fixed_pt`` runs through ``Loihi2SimCfg(exception_proc_model_map=...)``
(:data:`FIXED_PT_MODELS`); bit-exactness against the emulator is tested.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.dense.models import PyDelayDenseModelBitAcc
from lava.proc.dense.process import DelayDense
from lava.proc.sparse.models import PyDelaySparseModelBitAcc
from lava.proc.sparse.process import DelaySparse


class _Cached:
    """``calc_act`` with the stacked delay matrix built on first use (after the weights were set)."""

    _stacked: Any = None

    def calc_act(self, s_in) -> np.ndarray:
        if self._stacked is None:
            self._stacked = self.get_delay_wgts_mat(self.weights, self.delays, self.a_buff.shape[-1] - 1)
        return np.reshape(self._stacked.dot(s_in), (self.a_buff.shape[-1], self.weights.shape[0])).T


@implements(proc=DelaySparse, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class CachedDelaySparseModelBitAcc(_Cached, PyDelaySparseModelBitAcc):
    """Lava's ``PyDelaySparseModelBitAcc``, its delay matrix built once."""


@implements(proc=DelayDense, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class CachedDelayDenseModelBitAcc(_Cached, PyDelayDenseModelBitAcc):
    """Lava's ``PyDelayDenseModelBitAcc``, its delay matrix built once (integer ``dot``)."""


#: Process -> model for ``fixed_pt`` runs.
FIXED_PT_MODELS = {DelaySparse: CachedDelaySparseModelBitAcc, DelayDense: CachedDelayDenseModelBitAcc}
