"""A float simulator of a :class:`~spikedeploy.netspec.NetworkSpec` as a torch module.

Each layer runs the CUBA-LIF step function of :mod:`.neurons.lif` (the one used for
training), so a spec and the trained model share one set of equations::

    x_t = W @ in_t  (+ W_rec @ s_{t-1})      (a delayed layer: sum_k W_k @ in_{t - d_k}, spikedeploy.delays)
    u_t = (1 - du) u_{t-1} + x_t ;  v_t = (1 - dv) v_{t-1} + u_t + bias
    s_t = v_t > vth ;  v_t = 0 where s_t

A non-spiking layer (``vth`` None) runs the same step with ``vth = +inf`` (it never
fires, so it is the leaky integrator ``v_t = (1 - dv) v_{t-1} + u_t + bias``) and
passes its voltage on. Each layer feeds the next one its output: spikes, or the
voltage of a non-spiking layer. The logits read the last layer's voltage trace
as the spec's ``readout`` says: ``"last"`` the final voltage, ``"mean"`` the final
voltage divided by the number of steps (with ``du = 1, dv = 0`` the mean over time
of ``W s_t + bias``), ``"max"`` the maximum over time.

The parameters are buffers (a spec is a deployed network, not trained here).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..delays import delayed_inputs
from ..errors import ConfigError, ShapeMismatchError
from ..netspec import NetworkSpec
from .neurons.lif import CubaLIFParameters, CubaLIFState, cuba_lif_step
from .surrogate import Surrogate, make_surrogate


class SpecRun(NamedTuple):
    """What :meth:`SpecNetwork.run` returns; per-layer traces are [batch, time, n]."""

    outputs: tuple[torch.Tensor, ...]   # what each layer passes on: spikes, or the voltage if non-spiking
    voltages: tuple[torch.Tensor, ...]  # each layer's voltage after the reset
    logits: torch.Tensor                # [batch, n_out], from the last layer's voltages and the readout


class SpecNetwork(nn.Module):
    """Run a NetworkSpec in float (module docstring).

    Args:
        spec: the network.
        surrogate: the spike function's surrogate (only matters for gradients);
            default ATan.
        dtype: the float type of the parameters and the state.
    """

    def __init__(self, spec: NetworkSpec, surrogate: Surrogate | None = None,
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        if not isinstance(spec, NetworkSpec):
            raise ConfigError("spec", f"expected a NetworkSpec, got {type(spec).__name__}")
        self.spec = spec
        self.surrogate = surrogate if surrogate is not None else make_surrogate("atan")
        self.names = tuple(layer.name for layer in spec.layers)
        for i, layer in enumerate(spec.layers):
            vth = (torch.full((layer.n_out,), float("inf"), dtype=dtype) if layer.vth is None
                   else torch.tensor(layer.vth, dtype=dtype))
            self.register_buffer(f"w{i}", torch.tensor(layer.weight, dtype=dtype))
            self.register_buffer(f"du{i}", torch.tensor(layer.du, dtype=dtype))
            self.register_buffer(f"dv{i}", torch.tensor(layer.dv, dtype=dtype))
            self.register_buffer(f"vth{i}", vth)
            self.register_buffer(f"bias{i}", torch.tensor(layer.bias, dtype=dtype))
            self.register_buffer(f"wrec{i}", None if layer.rec_weight is None
                                 else torch.tensor(layer.rec_weight, dtype=dtype))

    def layer_params(self, i: int) -> tuple[torch.Tensor, CubaLIFParameters]:
        """(feed-forward weight, step-function parameters) of layer ``i``."""
        b = self._buffers
        return b[f"w{i}"], CubaLIFParameters(du=b[f"du{i}"], dv=b[f"dv{i}"], vth=b[f"vth{i}"],
                                             bias=b[f"bias{i}"], w_rec=b[f"wrec{i}"])

    def run(self, x: torch.Tensor) -> SpecRun:
        """Run ``x`` [batch, time, input_size]; return every layer's traces and the logits."""
        if x.ndim != 3 or x.shape[-1] != self.spec.input_size:
            raise ShapeMismatchError("spec network input [batch, time, input_size]",
                                     f"[*, *, {self.spec.input_size}]", tuple(x.shape))
        if x.shape[1] == 0:
            raise ShapeMismatchError("spec network input time steps", ">= 1", 0)
        w0 = self._buffers["w0"]
        signal = x.to(w0.dtype)
        outputs, voltages = [], []
        for i, layer in enumerate(self.spec.layers):
            weight, p = self.layer_params(i)
            current = F.linear(delayed_inputs(signal, layer.delays), weight)
            zero = current.new_zeros(current.shape[0], layer.n_out)
            state = CubaLIFState(zero, zero, zero)
            outs, vs = [], []
            for x_t in current.unbind(1):
                s, state = cuba_lif_step(x_t, state, p, self.surrogate)
                outs.append(s if layer.spiking else state.v)
                vs.append(state.v)
            signal = torch.stack(outs, 1)
            outputs.append(signal)
            voltages.append(torch.stack(vs, 1))
        return SpecRun(tuple(outputs), tuple(voltages), self.readout(voltages[-1]))

    def readout(self, v: torch.Tensor) -> torch.Tensor:
        """Logits [batch, n] from a voltage trace [batch, time, n], per ``spec.readout``."""
        if self.spec.readout == "last":
            return v[:, -1]
        if self.spec.readout == "mean":
            return v[:, -1] / v.shape[1]
        return v.max(dim=1).values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [batch, n_out] for ``x`` [batch, time, input_size]."""
        return self.run(x).logits

    def extra_repr(self) -> str:
        sizes = " -> ".join([str(self.spec.input_size)] + [
            f"{l.n_out}{'r' if l.recurrent else ''}{'' if l.spiking else '(v)'}" for l in self.spec.layers])
        return f"{sizes}, readout={self.spec.readout}, dt={self.spec.dt:g}"
