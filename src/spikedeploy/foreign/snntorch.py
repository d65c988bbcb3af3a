"""snnTorch 1.0 neurons (``snntorch.Leaky``, ``RLeaky``, ``Synaptic``, ``RSynaptic``) as LIF forms.

snnTorch computes, with ``reset_{t} = H(mem_{t-1} - threshold)`` (the previous step's spike)::

    Leaky:     mem_t = beta mem_{t-1} + x_t                       - reset_t * threshold
    RLeaky:    mem_t = beta mem_{t-1} + x_t + rec(spk_{t-1})      - reset_t * threshold
    Synaptic:  syn_t = alpha syn_{t-1} + x_t ;  mem_t = beta mem_{t-1} + syn_t - reset_t * threshold
    RSynaptic: syn_t = alpha syn_{t-1} + x_t + rec(spk_{t-1}) ; mem_t as Synaptic
    spk_t = mem_t > threshold

with ``reset_mechanism="subtract"`` (the default): the LIF / CUBA-LIF form with ``du = 1 -
alpha`` (1 without a synaptic current), ``dv = 1 - beta`` and the ``"subtract"`` reset.
``Leaky(reset_mechanism="zero")`` zeroes ``mem_{t-1}`` before the leak: Loihi's reset to
zero. ``rec`` is an ``nn.Linear`` (``all_to_all=True``: its weight and bias) or a one-to-one
``V`` (a diagonal). Refused, with the reason: ``reset_mechanism="none"``, the ``"zero"``
reset of RLeaky / Synaptic / RSynaptic (it zeroes the whole next step, input included),
``reset_delay=False``, ``inhibition``, ``state_quant``, graded spikes
(``graded_spikes_factor != 1``) and convolutional recurrence.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .neuron_form import NeuronForm, as_tensor, check_decays, refuse

_ZERO_ALL = ("RLeaky", "Synaptic", "RSynaptic")


def _checks(m: nn.Module, where: str) -> None:
    name = type(m).__name__
    mech = getattr(m, "reset_mechanism", "subtract")
    if mech == "none":
        raise refuse(where, "reset_mechanism='none': Loihi's neuron always resets", remedy="train with 'zero' or "
                     "'subtract'")
    if mech == "zero" and name in _ZERO_ALL:
        raise refuse(where, f"{name}(reset_mechanism='zero') zeroes the whole step after a spike, input "
                            "included; Loihi's neuron keeps that step's input",
                     remedy="train with reset_mechanism='subtract' (the default), or use Leaky for 'zero'")
    if getattr(m, "reset_delay", True) is False:
        raise refuse(where, "reset_delay=False resets within the step of the spike", remedy="train with "
                     "reset_delay=True (the default)")
    for flag in ("inhibition", "state_quant"):
        if getattr(m, flag, False):
            raise refuse(where, f"{flag} has no Loihi counterpart", remedy=f"train without {flag}")
    factor = getattr(m, "graded_spikes_factor", 1.0)
    if bool((torch.as_tensor(factor) != 1).any()):
        raise refuse(where, "graded spikes (graded_spikes_factor != 1) are not binary spikes",
                     remedy="train with graded_spikes_factor = 1")


def _recurrent(m: nn.Module, size: int, where: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    rec = m.recurrent
    if isinstance(rec, nn.Linear):
        if rec.weight.shape != (size, size):
            raise refuse(where, f"recurrent weight of shape {list(rec.weight.shape)} for {size} neurons",
                         remedy="linear_features must equal the layer size")
        b = None if rec.bias is None else rec.bias.detach().double()
        return rec.weight.detach().double(), b
    if hasattr(rec, "V"):
        return torch.diag(as_tensor(rec.V, size, where, "V")), None
    raise refuse(where, f"recurrent connection of type {type(rec).__name__} (convolutional?)",
                 remedy="use all_to_all with linear_features, or one-to-one V")


def _form(m: nn.Module, size: int, where: str, synaptic: bool, recurrent: bool) -> NeuronForm:
    _checks(m, where)
    beta = as_tensor(m.beta, size, where, "beta").clamp(0, 1)
    du = 1 - as_tensor(m.alpha, size, where, "alpha").clamp(0, 1) if synaptic else torch.ones(size,
                                                                                              dtype=torch.float64)
    dv = 1 - beta
    check_decays(where, du, dv)
    rec_w, rec_b = _recurrent(m, size, where) if recurrent else (None, None)
    reset = "subtract" if getattr(m, "reset_mechanism", "subtract") == "subtract" else "zero"
    return NeuronForm(du=du, dv=dv, vth=as_tensor(m.threshold, size, where, "threshold"),
                      gain=torch.ones(size, dtype=torch.float64), reset=reset, rec_weight=rec_w, rec_bias=rec_b)


#: snnTorch neuron classes (by qualified name) -> ``fn(module, size, where) -> NeuronForm``.
NEURONS: dict[str, Callable[[nn.Module, int, str], NeuronForm]] = {
    "snntorch._neurons.leaky.Leaky": lambda m, n, w: _form(m, n, w, synaptic=False, recurrent=False),
    "snntorch._neurons.rleaky.RLeaky": lambda m, n, w: _form(m, n, w, synaptic=False, recurrent=True),
    "snntorch._neurons.synaptic.Synaptic": lambda m, n, w: _form(m, n, w, synaptic=True, recurrent=False),
    "snntorch._neurons.rsynaptic.RSynaptic": lambda m, n, w: _form(m, n, w, synaptic=True, recurrent=True),
}
