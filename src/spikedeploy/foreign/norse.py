"""norse 1.1 neurons (``norse.torch.LIFCell``, ``LIFBoxCell``) as LIF forms.

norse integrates with ``a = dt * tau_mem_inv`` and ``b = dt * tau_syn_inv`` (per step)::

    LIFCell:    j_t = i_{t-1} + x_t ;  v_t = v_{t-1} + a (v_leak - v_{t-1} + j_t) ;  i_t = (1 - b) j_t
    LIFBoxCell: v_t = v_{t-1} + a (v_leak - v_{t-1} + x_t)
    z_t = v_t > v_th ;  v_t = v_reset where z_t ;  v_0 = v_leak

In the voltage ``v - v_reset`` this is the CUBA-LIF form (``du = b``, ``dv = a``, input gain
``a``, threshold ``v_th - v_reset``) for ``LIFCell`` and the LIF form for ``LIFBoxCell``,
exactly, when ``v_leak = v_reset`` (the default 0 and 0): the neuron then starts where it
resets. Refused: ``v_leak != v_reset`` (Loihi's neuron starts and resets at the same
voltage), ``reset_subtract`` (norse subtracts within the step, before the next leak).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .neuron_form import NeuronForm, as_tensor, check_decays, refuse


def _params(m: nn.Module, size: int, where: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    p, dt = m.p, float(m.dt)
    a = dt * as_tensor(p.tau_mem_inv, size, where, "tau_mem_inv")
    leak = as_tensor(p.v_leak, size, where, "v_leak")
    reset = as_tensor(p.v_reset, size, where, "v_reset")
    if not torch.equal(leak, reset):
        raise refuse(where, "v_leak differs from v_reset: the neuron starts at v_leak but resets to v_reset, "
                            "where Loihi's starts and resets at 0", remedy="train with v_leak = v_reset")
    method = getattr(p, "reset_method", None)
    if method is not None and getattr(method, "__name__", "") != "reset_value":
        raise refuse(where, f"reset method {getattr(method, '__name__', method)!r}: Loihi resets to a value",
                     remedy="train with the default reset_value")
    vth = as_tensor(p.v_th, size, where, "v_th") - reset
    return a, vth, reset


def _lif(m: nn.Module, size: int, where: str) -> NeuronForm:
    a, vth, _ = _params(m, size, where)
    du = float(m.dt) * as_tensor(m.p.tau_syn_inv, size, where, "tau_syn_inv")
    check_decays(where, du, a)
    return NeuronForm(du=du, dv=a, vth=vth, gain=a)


def _lif_box(m: nn.Module, size: int, where: str) -> NeuronForm:
    a, vth, _ = _params(m, size, where)
    one = torch.ones(size, dtype=torch.float64)
    check_decays(where, one, a)
    return NeuronForm(du=one, dv=a, vth=vth, gain=a)


#: norse neuron classes (by qualified name) -> ``fn(module, size, where) -> NeuronForm``.
NEURONS: dict[str, Callable[[nn.Module, int, str], NeuronForm]] = {
    "norse.torch.module.lif.LIFCell": _lif,
    "norse.torch.module.lif_box.LIFBoxCell": _lif_box,
}
