"""One foreign neuron layer in this project's terms: the form each library reader returns.

Every supported neuron of snnTorch, norse and SpikingJelly is, after a change of
variables, this project's LIF / CUBA-LIF step (:mod:`spikedeploy.models.neurons.lif`)::

    u_t = (1 - du) u_{t-1} + gain * (W x_t + b) + W_rec s_{t-1} + b_rec
    v_t = (1 - dv) v_{t-1} + u_t [- vth s_{t-1}]      s_t = v_t > vth

``gain`` is the input scale the source folds into its voltage equation (norse's
``dt / tau_mem``, SpikingJelly's ``1 / tau``), ``b`` the bias of the ``nn.Linear`` before the
neuron; the bracket is the reset ``"subtract"`` (snnTorch's default).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ForeignModelError


@dataclass(frozen=True)
class NeuronForm:
    """A foreign neuron layer as a LIF / CUBA-LIF layer (module docstring); tensors float64,
    per neuron ``[size]`` (a scalar broadcasts)."""

    du: torch.Tensor
    dv: torch.Tensor
    vth: torch.Tensor
    gain: torch.Tensor
    reset: str = "zero"
    rec_weight: torch.Tensor | None = None
    rec_bias: torch.Tensor | None = None
    fires_at_equality: bool = False

    @property
    def kind(self) -> str:
        return "lif" if bool((self.du == 1).all()) else "cuba-lif"


def as_tensor(value, size: int, where: str, field: str) -> torch.Tensor:
    """``value`` (number or tensor) as a float64 ``[size]`` tensor; ForeignModelError otherwise."""
    t = torch.as_tensor(value.detach() if isinstance(value, torch.Tensor) else value, dtype=torch.float64).cpu()
    if t.numel() == 1:
        return t.reshape(()).expand(size).clone()
    if t.shape != (size,):
        raise ForeignModelError(where, f"{field} has shape {list(t.shape)}, expected a scalar or [{size}]")
    return t.clone()


def refuse(where: str, problem: str, remedy: str) -> ForeignModelError:
    return ForeignModelError(where, problem, remedy=remedy)


def check_decays(where: str, du: torch.Tensor, dv: torch.Tensor) -> None:
    """du in (0, 1], dv in [0, 1): what the LIF / CUBA-LIF parametrisation holds."""
    if bool(((du <= 0) | (du > 1)).any()):
        raise refuse(where, "the synaptic current would never decay or decay by more than 1 per step "
                            f"(current decay {float(du.min()):g}..{float(du.max()):g})",
                     remedy="use a current decay factor in [0, 1) (snnTorch alpha, norse dt * tau_syn_inv <= 1)")
    if bool(((dv < 0) | (dv >= 1)).any()):
        raise refuse(where, f"a voltage decay of {float(dv.max()):g} per step leaves no memory at all "
                            "(the neuron's voltage is its input); Loihi's neuron keeps some",
                     remedy="use a membrane decay factor in (0, 1] (snnTorch beta > 0, SpikingJelly tau > 1)")


def linear_of(module: nn.Module) -> bool:
    return isinstance(module, nn.Linear)
