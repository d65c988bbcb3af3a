"""Recorders that write their trace to a ``.npy`` file at the run's last step.

Lava's own ``RingBuffer`` sink and ``Monitor`` hand their data back through
``Var.get()``, which crosses the process boundary one element per message
(about 50 us each here): reading 600 samples x 100 steps x 148 neurons that way
takes minutes. These recorders keep the trace in their own memory and save it
once (write to a temporary name, then rename), so reading it costs one file load.

* :class:`SpikeRecorder`: an InPort; records what arrives each step (spikes).
* :class:`VarRecorder`: a RefPort to a Var (a LIF's ``v``); reads it after every
  step (post-management phase, so after the spike reset, like Lava's Monitor).

Both have a ``fixed_pt`` and a ``floating_pt`` model.
"""

from __future__ import annotations

import os

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyRefPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, RefPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


def _save(path: str, data: np.ndarray) -> None:
    tmp = f"{path}.partial"
    with open(tmp, "wb") as fh:
        np.save(fh, data)
    os.replace(tmp, path)


class SpikeRecorder(AbstractProcess):
    """Records its input vector every step; saves ``[num_steps, *shape]`` to ``path``."""

    def __init__(self, *, shape: tuple[int, ...], num_steps: int, path: str) -> None:
        super().__init__(shape=tuple(shape), num_steps=int(num_steps), path=str(path))
        self.a_in = InPort(shape=tuple(shape))


class VarRecorder(AbstractProcess):
    """Reads ``var`` after every step; saves ``[num_steps, *var.shape]`` to ``path``."""

    def __init__(self, *, var, num_steps: int, path: str) -> None:
        super().__init__(shape=tuple(var.shape), num_steps=int(num_steps), path=str(path))
        self.ref = RefPort(var.shape)
        self.ref.connect_var(var)


class _SpikeRecorderModel(PyLoihiProcessModel):
    a_in = None
    dtype = np.int8

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.num_steps = proc_params["num_steps"]
        self.buffer = np.zeros((self.num_steps,) + tuple(proc_params["shape"]), dtype=self.dtype)

    def run_spk(self) -> None:
        data = self.a_in.recv()
        if self.time_step <= self.num_steps:
            self.buffer[self.time_step - 1] = data
        if self.time_step == self.num_steps:
            _save(self.proc_params["path"], self.buffer)


@implements(proc=SpikeRecorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySpikeRecorderFixed(_SpikeRecorderModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32)


@implements(proc=SpikeRecorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySpikeRecorderFloat(_SpikeRecorderModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)


class _VarRecorderModel(PyLoihiProcessModel):
    ref = None
    dtype = np.int32

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.num_steps = proc_params["num_steps"]
        self.buffer = np.zeros((self.num_steps,) + tuple(proc_params["shape"]), dtype=self.dtype)

    def post_guard(self) -> bool:
        return True

    def run_post_mgmt(self) -> None:
        data = self.ref.read()
        if self.time_step <= self.num_steps:
            self.buffer[self.time_step - 1] = data
        if self.time_step == self.num_steps:
            _save(self.proc_params["path"], self.buffer)


@implements(proc=VarRecorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyVarRecorderFixed(_VarRecorderModel):
    ref: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.int32)


@implements(proc=VarRecorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyVarRecorderFloat(_VarRecorderModel):
    ref: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, float)
    dtype = np.float64
