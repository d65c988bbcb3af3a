"""SpikingJelly neurons (``LIFNode``, ``ParametricLIFNode``, ``IFNode``; the 0.0.0.0.14 release,
both its ``clock_driven`` and ``activation_based`` modules) as LIF forms.

SpikingJelly charges, fires when ``v >= v_threshold`` and resets to ``v_reset`` (also the
initial voltage)::

    IFNode:            v_t = v_{t-1} + x_t
    LIFNode:           v_t = v_{t-1} + (x_t - (v_{t-1} - v_reset)) / tau      (decay_input=True)
                       v_t = v_{t-1} - (v_{t-1} - v_reset) / tau + x_t        (decay_input=False)
    ParametricLIFNode: LIFNode with 1 / tau = sigmoid(w)

In the voltage ``v - v_reset``: the LIF form with ``dv = 1 / tau`` (0 for IF), input gain
``1 / tau`` (``decay_input=True``) or 1, threshold ``v_threshold - v_reset``. The firing
condition differs at equality (``>=`` against Loihi's ``>``; named in the notes).
Refused: the soft reset (``v_reset=None``: subtracts within the step).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .neuron_form import NeuronForm, as_tensor, check_decays, refuse


def _base(m: nn.Module, size: int, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    if m.v_reset is None:
        raise refuse(where, "the soft reset (v_reset=None) subtracts the threshold within the step",
                     remedy="train with a hard reset (v_reset=0.0, the default)")
    reset = as_tensor(m.v_reset, size, where, "v_reset")
    return reset, as_tensor(m.v_threshold, size, where, "v_threshold") - reset


def _form(dv: torch.Tensor, gain: torch.Tensor, vth: torch.Tensor, size: int, where: str) -> NeuronForm:
    one = torch.ones(size, dtype=torch.float64)
    check_decays(where, one, dv)
    return NeuronForm(du=one, dv=dv, vth=vth, gain=gain, fires_at_equality=True)


def _if(m: nn.Module, size: int, where: str) -> NeuronForm:
    _, vth = _base(m, size, where)
    return _form(torch.zeros(size, dtype=torch.float64), torch.ones(size, dtype=torch.float64), vth, size, where)


def _lif(m: nn.Module, size: int, where: str, inv_tau: torch.Tensor) -> NeuronForm:
    _, vth = _base(m, size, where)
    gain = inv_tau if getattr(m, "decay_input", True) else torch.ones(size, dtype=torch.float64)
    return _form(inv_tau, gain, vth, size, where)


def _plain(m: nn.Module, size: int, where: str) -> NeuronForm:
    return _lif(m, size, where, 1.0 / as_tensor(m.tau, size, where, "tau"))


def _parametric(m: nn.Module, size: int, where: str) -> NeuronForm:
    return _lif(m, size, where, torch.sigmoid(as_tensor(m.w, size, where, "w")))


#: SpikingJelly neuron classes (by qualified name) -> ``fn(module, size, where) -> NeuronForm``.
NEURONS: dict[str, Callable[[nn.Module, int, str], NeuronForm]] = {
    f"spikingjelly.{api}.neuron.{cls}": fn
    for api in ("clock_driven", "activation_based")
    for cls, fn in (("IFNode", _if), ("LIFNode", _plain), ("ParametricLIFNode", _parametric))
}
