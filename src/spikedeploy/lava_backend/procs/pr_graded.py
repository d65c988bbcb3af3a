"""The pr-v2 neuron of Loihi 2 as a Lava process: gates computed, graded spikes out.

Lava 0.10's graded processes do not hold this neuron: ``GradedVec`` and ``GradedReluVec``
clear their state every step, ``SigmaDelta`` sends differences, and a composition of them
with ``ProdNeuron`` puts a Dense (one step) between the gate and the state it reads, so
the recurrence ``y_{t-1} -> gates_t`` would read ``y_{t-2}``. Loihi 2's neurons are
programs, so the neuron is one process of our own beside Lava's: four input ports (the
forget and candidate pre-activations, feed-forward and recurrent, each the sum of Lava
``Dense`` processes) and one graded output port. Its step is
:func:`spikedeploy.quant.pr_graded.pr_graded_step`, the emulator's. At a reset step
(``time_step % reset_interval == reset_offset``, ``LIFReset``'s rule) it clears ``i`` and
``v`` and drops the recurrent input. ``fixed_pt`` only.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from spikedeploy.quant.pr_graded import pr_graded_step  # absolute: Lava imports this file by its path


class PrGradedNeuron(AbstractProcess):
    """pr-v2 neurons with graded outputs (module docstring). ``bf``, ``bc``: per-neuron biases of
    the forget (Q12) and candidate (V units) pre-activations; one level is ``2^level_exp``."""

    def __init__(self, *, shape: tuple[int, ...], bf: np.ndarray, bc: np.ndarray, level_exp: int, q_max: int,
                 threshold: int, state_bits: int, reset_interval: int, reset_offset: int) -> None:
        super().__init__(shape=tuple(shape), level_exp=int(level_exp), q_max=int(q_max), threshold=int(threshold),
                         state_bits=int(state_bits), reset_interval=int(reset_interval),
                         reset_offset=int(reset_offset))
        self.a_f, self.a_c, self.r_f, self.r_c = (InPort(shape=tuple(shape)) for _ in range(4))
        self.s_out = OutPort(shape=tuple(shape))
        self.i = Var(shape=tuple(shape), init=0)
        self.v = Var(shape=tuple(shape), init=0)
        self.bf = Var(shape=tuple(shape), init=np.asarray(bf, dtype=np.int32))
        self.bc = Var(shape=tuple(shape), init=np.asarray(bc, dtype=np.int32))


@implements(proc=PrGradedNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyPrGradedNeuronFixed(PyLoihiProcessModel):
    a_f: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    a_c: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    r_f: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    r_c: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    i: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    bf: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    bc: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)

    def run_spk(self) -> None:
        p = self.proc_params
        a_f, a_c, r_f, r_c = (port.recv().astype(np.int64) for port in (self.a_f, self.a_c, self.r_f, self.r_c))
        i, v = self.i.astype(np.int64), self.v.astype(np.int64)
        if self.time_step % p["reset_interval"] == p["reset_offset"] % p["reset_interval"]:
            i, v, r_f, r_c = 0 * i, 0 * v, 0 * r_f, 0 * r_c
        params = SimpleNamespace(bf=self.bf.astype(np.int64), bc=self.bc.astype(np.int64), level_exp=p["level_exp"],
                                 q_max=p["q_max"], threshold=p["threshold"])
        i, v, q = pr_graded_step(i, v, a_f + r_f, a_c + r_c, params, p["state_bits"])
        self.i[:] = i
        self.v[:] = v
        self.s_out.send(q.astype(np.int32))
