"""The Loihi 2 neurons that are programs of their own, as Lava processes: pr-v2 and the hardware-friendly GPN.

Lava 0.10's graded processes do not hold these neurons: ``GradedVec`` and ``GradedReluVec``
clear their state every step, ``SigmaDelta`` sends differences, and a composition of them
with ``ProdNeuron`` puts a Dense (one step) between a gate and the state it reads, so a
recurrence ``state_{t-1} -> gates_t`` would read ``state_{t-2}``. Loihi 2's neurons are
programs, so each neuron is one process of our own beside Lava's ``Dense``: one input port
per target of the layer (``a_<target>``, the sum of its feed-forward Dense processes) and one
per recurrent target (``r_<target>``), the output ``s_out`` (to the next layer) and ``p_out``
(to the layer's own recurrent Dense; a pr-v2 neuron sends its payload on both, a GPN its
spike and its state's graded broadcast). The program is the layer kind's
``program`` (:mod:`spikedeploy.quant.pr_graded`, :mod:`spikedeploy.quant.gpn_graded`), the
emulator's. At a reset step (``time_step % reset_interval == reset_offset``, ``LIFReset``'s
rule) the state is cleared and the recurrent input dropped. ``fixed_pt`` only.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

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

# absolute: Lava imports this file by its path
from spikedeploy.quant.gpn_graded import GpnGradedLayer
from spikedeploy.quant.pr_graded import PrGradedLayer


class _Neuron(AbstractProcess):
    layer: Any = None

    def __init__(self, *, shape: tuple[int, ...], params: dict[str, Any], state_bits: int, reset_interval: int,
                 reset_offset: int) -> None:
        super().__init__(shape=tuple(shape), params=params, state_bits=int(state_bits),
                         reset_interval=int(reset_interval), reset_offset=int(reset_offset))
        self.s_out = OutPort(shape=tuple(shape))
        self.p_out = OutPort(shape=tuple(shape))


class PrGradedNeuron(_Neuron):
    """pr-v2 neurons with graded outputs (module docstring)."""

    layer = PrGradedLayer

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        shape = self.s_out.shape
        self.a_f, self.a_c, self.r_f, self.r_c = (InPort(shape=shape) for _ in range(4))
        self.i = Var(shape=shape, init=0)
        self.v = Var(shape=shape, init=0)


class GpnGradedNeuron(_Neuron):
    """Hardware-friendly GPN neurons: gates computed, spikes out, state broadcast graded (module docstring)."""

    layer = GpnGradedLayer

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        shape = self.s_out.shape
        self.a_x = InPort(shape=shape)
        self.a_forget, self.a_input, self.a_bypass, self.a_threshold = (InPort(shape=shape) for _ in range(4))
        self.r_forget, self.r_input, self.r_bypass, self.r_threshold = (InPort(shape=shape) for _ in range(4))
        self.v = Var(shape=shape, init=0)


class _NeuronModel(PyLoihiProcessModel):
    layer: Any = None
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    p_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)

    def run_spk(self) -> None:
        p, layer = self.proc_params, self.layer
        reset = self.time_step % p["reset_interval"] == p["reset_offset"] % p["reset_interval"]
        pre = {}
        for t in layer.targets:
            pre[t] = getattr(self, f"a_{t}").recv().astype(np.int64)
            port = getattr(self, f"r_{t}", None)
            if port is not None:
                r = port.recv().astype(np.int64)
                pre[t] = pre[t] + (0 if reset else r)
        state = tuple(np.zeros(self.v.shape, np.int64) if reset else getattr(self, n).astype(np.int64)
                      for n in layer.state_names)
        state, out, back = layer.program(state, pre, SimpleNamespace(**p["params"]), p["state_bits"])
        for name, value in zip(layer.state_names, state):
            getattr(self, name)[:] = value
        self.s_out.send(np.asarray(out).astype(np.int32))
        self.p_out.send(np.asarray(back).astype(np.int32))


def _port() -> LavaPyType:
    return LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)


def _state() -> LavaPyType:
    return LavaPyType(np.ndarray, np.int32, precision=24)


@implements(proc=PrGradedNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyPrGradedNeuronFixed(_NeuronModel):
    layer = PrGradedLayer
    a_f: PyInPort = _port()
    a_c: PyInPort = _port()
    r_f: PyInPort = _port()
    r_c: PyInPort = _port()
    i: np.ndarray = _state()
    v: np.ndarray = _state()


@implements(proc=GpnGradedNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyGpnGradedNeuronFixed(_NeuronModel):
    layer = GpnGradedLayer
    a_x: PyInPort = _port()
    a_forget: PyInPort = _port()
    a_input: PyInPort = _port()
    a_bypass: PyInPort = _port()
    a_threshold: PyInPort = _port()
    r_forget: PyInPort = _port()
    r_input: PyInPort = _port()
    r_bypass: PyInPort = _port()
    r_threshold: PyInPort = _port()
    v: np.ndarray = _state()


#: The process of each layer kind.
NEURONS = {"pr-v2": PrGradedNeuron, "gpn": GpnGradedNeuron}
