"""A node map for ``nirtorch.nir_to_torch`` that runs NIR graphs with our discretisation.

nirtorch (2.6) wires a NIR graph into a ``torch.fx.GraphModule`` that runs ONE time
step per call, ``out, state = module(x_t, state)``; a node with a recurrent input
reads that input's output of the previous call. It has no neuron converters of its
own, and its default Affine converter drops the bias, so :func:`node_map` supplies:

- Affine -> ``y = W x + b`` (bias kept), Linear -> ``y = W x``, Scale -> ``y = s * x``,
  Flatten (of a 1-D signal) and zero Delays -> identity;
- each neuron type (LIF, CubaLIF, IF, LI, CubaLI, I, Threshold) -> a stateful module
  whose discrete parameters come from the same converters as
  :func:`~spikedeploy.nir_io.load.nir_to_spec` (strict mode) and whose step is the
  models' :func:`~spikedeploy.models.neurons.lif.cuba_lif_step`.

Unlike :func:`~spikedeploy.nir_io.load.nir_to_spec`, this keeps the graph's own
wiring: an Affine bias into a CUBA neuron flows through the current as NIR says, and
graph-level recurrence is nirtorch's. It is therefore an independent check of our
loader's graph handling (see ``tests/nir_io/test_nirtorch_map.py``).
"""

from __future__ import annotations

from typing import Any, Callable

import nir
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConversionError, ShapeMismatchError
from ..models.neurons.lif import CubaLIFParameters, CubaLIFState, cuba_lif_step
from ..models.surrogate import make_surrogate
from .load import NeuronOp, ReadContext, convert_node


class AffineModule(nn.Module):
    """``y = W x + b``."""

    def __init__(self, weight: Any, bias: Any | None):
        super().__init__()
        self.register_buffer("weight", torch.as_tensor(weight, dtype=torch.float64))
        self.register_buffer("bias", None if bias is None else torch.as_tensor(bias, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


class ScaleModule(nn.Module):
    def __init__(self, scale: Any):
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class NeuronModule(nn.Module):
    """One step of a :class:`~spikedeploy.nir_io.load.NeuronOp` per call: ``(out, state) = m(x, state)``.

    ``out`` is the spikes, or the voltage for a non-spiking neuron.
    """

    def __init__(self, op: NeuronOp):
        super().__init__()
        self.spiking = op.vth is not None
        vth = op.vth if op.vth is not None else torch.full((op.size,), float("inf"))
        for name, value in (("du", op.du), ("dv", op.dv), ("gain", op.gain), ("bias", op.bias), ("vth", vth)):
            self.register_buffer(name, torch.as_tensor(value, dtype=torch.float64))
        self.surrogate = make_surrogate("atan")

    def forward(self, x: torch.Tensor, state: CubaLIFState | None = None) -> tuple[torch.Tensor, CubaLIFState]:
        if x.shape[-1] != self.du.shape[0]:
            raise ShapeMismatchError("NIR neuron input", self.du.shape[0], x.shape[-1])
        if state is None:
            zero = torch.zeros_like(x)
            state = CubaLIFState(zero, zero, zero)
        p = CubaLIFParameters(du=self.du, dv=self.dv, vth=self.vth, bias=self.bias)
        s, state = cuba_lif_step(self.gain * x, state, p, self.surrogate)
        return (s if self.spiking else state.v), state


def _neuron(dt: float) -> Callable[[nir.NIRNode], nn.Module]:
    def build(node: nir.NIRNode) -> nn.Module:
        size = int(_size_of(node))
        ops = convert_node(type(node).__name__, node, ReadContext(dt=dt, strict=True, size=size))
        (op,) = ops
        return NeuronModule(op)
    return build


def _size_of(node: nir.NIRNode) -> int:
    shape = (node.input_type or {}).get("input")
    if shape is None:
        raise ConversionError(type(node).__name__, type(node).__name__, "has no input type")
    return int(torch.as_tensor(shape).prod())


def _identity(node: nir.NIRNode) -> nn.Module:
    if isinstance(node, nir.Delay) and bool((torch.as_tensor(node.delay) != 0).any()):
        raise ConversionError("Delay", "Delay", "non-zero delays are not supported by this node map")
    return nn.Identity()


def node_map(dt: float) -> dict[type, Callable[[nir.NIRNode], nn.Module]]:
    """nirtorch node map (node type -> module builder) for step ``dt`` seconds."""
    neuron = _neuron(float(dt))
    return {
        nir.Affine: lambda n: AffineModule(n.weight, n.bias),
        nir.Linear: lambda n: AffineModule(n.weight, None),
        nir.Scale: lambda n: ScaleModule(n.scale),
        nir.Flatten: _identity,
        nir.Delay: _identity,
        nir.LIF: neuron, nir.CubaLIF: neuron, nir.IF: neuron, nir.LI: neuron, nir.CubaLI: neuron,
        nir.I: neuron, nir.Threshold: neuron,
    }


def to_torch(graph: nir.NIRGraph, dt: float, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """``nirtorch.nir_to_torch`` with :func:`node_map`, parameters in ``dtype``."""
    import nirtorch

    return nirtorch.nir_to_torch(graph, node_map(dt), dtype=dtype)


def run(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Step ``module`` over ``x`` [batch, time, n] (in the module's dtype); return [batch, time, m]."""
    state = None
    out = []
    for x_t in x.unbind(1):
        y, state = module(x_t, state)
        out.append(y)
    return torch.stack(out, 1)
