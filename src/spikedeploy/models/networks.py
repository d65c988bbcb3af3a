"""Spiking networks built from a :class:`NetworkConfig`, and how to read them from outside.

Structure of a :class:`SpikingNetwork` (what quantisation, GPN folding, NIR export
and operation counting read; all inputs/outputs are batch-first ``[batch, time, features]``)::

    net.config                  the NetworkConfig it was built from (stored in checkpoints)
    net.layers                  nn.ModuleList of HiddenLayer, input side first
      layer.synapse             nn.Linear(n_in, size): feed-forward weight [size, n_in]
                                (bias only with config.synapse_bias, the GPN presets)
      layer.recurrent           nn.Linear(size, size, bias=False) on the layer's own
                                spikes of the previous step, or None (pr-v2: always,
                                nn.Linear(size, 2 * size), its U on the previous outputs)
      layer.neuron              the neuron population (neurons.LIF / CubaLIF / GPN ...)
      layer.kind                its registry name: "lif", "cuba-lif", "gpn", "pr-v2", "s2net"
      layer.neuron_params()     plain per-neuron tensors: LIF/CUBA-LIF: du, dv, vth,
                                bias ([size] each); GPN: gate_weight [4C, 2C], gate_bias [4C];
                                pr-v2: w_rec, quantiser and batch-norm values; s2net: beta,
                                b, norm, d (see each neuron's module)
      layer.dropout             SequenceDropout (one mask for all steps; identity in eval)
    net.readout                 LIReadout ("li") or MeanLinearReadout ("mean-linear")
      readout.synapse           nn.Linear(size_last, n_classes, bias=False)
      readout.neuron_params()   du (= 1), dv, bias per class
      readout.reduce            "max" | "last" (LI) or "mean" (mean-linear), as NetworkSpec

Dynamics per hidden layer (LIF / CUBA-LIF; GPN in neurons/gpn.py)::

    x_t = synapse(in_t)                              (pr-v2: 2 * size wide, two gate inputs)
    u_t = (1 - du) u_{t-1} + x_t + W_rec s_{t-1}   (no W_rec term without recurrence)
    v_t = (1 - dv) v_{t-1} + u_t + bias ;  s_t = v_t > vth ;  v_t = 0 where s_t

``net(x)`` returns the logits ``[batch, n_classes]``; ``net(x, return_spikes=True)``
returns ``(logits, [spikes of each hidden layer, [batch, time, size]])`` (before
dropout). :meth:`SpikingNetwork.initial_state` and :meth:`SpikingNetwork.step` run
the same network one time step at a time through the neurons' pure step functions
(what operation counters hook into); :meth:`SpikingNetwork.forward_steps` uses
them and gives the same outputs as ``forward`` in evaluation mode.

Neuron kinds are a registry, :data:`NEURON_BUILDERS`: adding a neuron is one module
under ``neurons/`` plus one line there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ..config import dataclass_from_dict, dataclass_to_dict
from ..errors import ConfigError, ShapeMismatchError
from .conv import ConvNetworkConfig, ConvSpikingNetwork
from .neurons.base import NeuronPopulation
from .neurons.gpn import GATES as GPN_GATES
from .neurons.gpn import GPN
from .neurons.li import LIState, li_step
from .neurons.lif import LIF, CubaLIF
from .neurons.lif import RESETS as LIF_RESETS
from .neurons.pr_rnn import InputQuantizer, PRv2
from .neurons.s2net import RESETS as S2NET_RESETS
from .neurons.s2net import S2NetLIF
from .readout import LI_REDUCES, READOUTS, LIReadout, MeanLinearReadout
from .surrogate import SURROGATES, Surrogate, make_surrogate


@dataclass(frozen=True)
class NetworkConfig:
    """Everything needed to rebuild a network (stored in every checkpoint).

    input_size      features per input frame (700 SHD channels, or 700 / pool)
    hidden          sizes of the hidden layers, input side first
    n_classes       output classes
    neuron          hidden neuron kind (one of NEURON_BUILDERS: "lif", "cuba-lif", "gpn", ...)
    recurrent       give each LIF/CUBA-LIF layer a recurrent weight on its own spikes
    readout         "li" (leaky integrator) or "mean-linear" (GPN paper)
    readout_reduce  LI readout only: "max" over time of the voltage, or "last"
    dropout         dropout probability after each hidden layer (one mask for all steps)
    surrogate       surrogate gradient name ("atan", "fast-sigmoid", "sigmoid")
    surrogate_scale its shape parameter (None: the surrogate's default)
    synapse_bias    give the feed-forward nn.Linear a bias (the GPN paper does; Loihi's
                    synapses have none, LIF/CUBA-LIF use the neuron bias instead)
    neuron_bias     per-neuron learnable bias in the voltage equation (LIF/CUBA-LIF)
    du_init, dv_init, vth_init   initial current decay (CUBA-LIF), voltage decay, threshold
    learn_decays, learn_thresholds   parametric neurons (learnable per neuron) or fixed
    readout_dv_init initial voltage decay of the LI readout
    v_reset_std     GPN: std of the random reset value / initial voltage in training
    gpn_gates       GPN: "sigmoid" (the paper's sigmoid and tanh gates) or "hard" (piecewise linear:
                    the hardware-friendly GPN that Loihi 2 computes, neurons/gpn.py)
    weight_gain     multiplies the default (PyTorch) initial feed-forward weights
    recurrent_gain  multiplies the default initial recurrent weights (LIF, CUBA-LIF, s2net)
    batch_norm      pr-v2: batch-normalise the synapse output (the authors do)
    quant_bits, quant_threshold, quant_momentum   pr-v2: the multi-bit quantiser Q
    lateral         s2net: Deneve lateral connections D = W W^T (else self-reset only)
    beta_init, b_init   s2net: initial decay (one per layer) and threshold offsets
    s2net_reset     s2net: "subtract" (the paper's self-reset by ||w||^2) or "zero" (reset to
                    zero: the layer is then exactly a Loihi LIF layer, see neurons/s2net.py)
    reset           LIF / CUBA-LIF: "zero" (Loihi) or "subtract" (the threshold is subtracted on
                    the next step: snnTorch's default, for converted models; folds to "zero")
    input_quant     pr-v2: quantise the input with the authors' error-accumulating multi-bit Q
                    (quant_bits, quant_threshold; models converted from their code)
    """

    input_size: int = 700
    hidden: tuple[int, ...] = (128,)
    n_classes: int = 20
    neuron: str = "cuba-lif"
    recurrent: bool = False
    readout: str = "li"
    readout_reduce: str = "max"
    dropout: float = 0.0
    surrogate: str = "atan"
    surrogate_scale: float | None = None
    synapse_bias: bool = False
    neuron_bias: bool = True
    du_init: float = 0.2
    dv_init: float = 0.1
    vth_init: float = 1.0
    learn_decays: bool = True
    learn_thresholds: bool = True
    readout_dv_init: float = 0.1
    v_reset_std: float = 0.05
    gpn_gates: str = "sigmoid"
    weight_gain: float = 1.0
    recurrent_gain: float = 1.0
    batch_norm: bool = True
    quant_bits: int = 6
    quant_threshold: int = 3
    quant_momentum: float = 0.1
    lateral: bool = True
    beta_init: float = 0.7
    b_init: float = 1.0
    s2net_reset: str = "subtract"
    reset: str = "zero"
    input_quant: bool = False

    def __post_init__(self) -> None:
        def positive_int(name: str, value: Any) -> int:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"model.{name}", f"must be a positive integer, got {value!r}")
            return value

        def number(name: str, value: Any, lo: float, hi: float, *, lo_open=False, hi_open=False) -> float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            ok = ok and (value > lo if lo_open else value >= lo) and (value < hi if hi_open else value <= hi)
            if not ok:
                interval = f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
                raise ConfigError(f"model.{name}", f"must be a number in {interval}, got {value!r}")
            return float(value)

        positive_int("input_size", self.input_size)
        positive_int("n_classes", self.n_classes)
        hidden = self.hidden
        if isinstance(hidden, int) and not isinstance(hidden, bool):
            hidden = (hidden,)
        if not isinstance(hidden, (tuple, list)) or not hidden:
            raise ConfigError("model.hidden", f"must be a non-empty list of layer sizes, got {hidden!r}")
        object.__setattr__(self, "hidden", tuple(positive_int("hidden", h) for h in hidden))
        if self.neuron not in NEURON_BUILDERS:
            raise ConfigError("model.neuron", f"unknown neuron {self.neuron!r}", valid=sorted(NEURON_BUILDERS))
        if self.readout not in READOUTS:
            raise ConfigError("model.readout", f"unknown readout {self.readout!r}", valid=sorted(READOUTS))
        if self.readout == "li" and self.readout_reduce not in LI_REDUCES:
            raise ConfigError("model.readout_reduce", f"unknown reduction {self.readout_reduce!r}",
                              valid=LI_REDUCES)
        if self.surrogate not in SURROGATES:
            raise ConfigError("model.surrogate", f"unknown surrogate {self.surrogate!r}", valid=sorted(SURROGATES))
        if self.surrogate_scale is not None:
            object.__setattr__(self, "surrogate_scale",
                               number("surrogate_scale", self.surrogate_scale, 0, math.inf, lo_open=True))
        for name in ("recurrent", "synapse_bias", "neuron_bias", "learn_decays", "learn_thresholds",
                     "batch_norm", "lateral"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"model.{name}", f"must be true or false, got {getattr(self, name)!r}")
        if self.recurrent and not NEURON_BUILDERS[self.neuron].supports_recurrent:
            raise ConfigError("model.recurrent", f"the {self.neuron!r} neuron has no recurrent weight option",
                              valid=[k for k, b in NEURON_BUILDERS.items() if b.supports_recurrent],
                              remedy="set recurrent = false for this neuron")
        object.__setattr__(self, "dropout", number("dropout", self.dropout, 0, 1, hi_open=True))
        for name in ("du_init", "dv_init", "readout_dv_init"):
            object.__setattr__(self, name, number(name, getattr(self, name), 0, 1, lo_open=True, hi_open=True))
        object.__setattr__(self, "vth_init", number("vth_init", self.vth_init, 0, math.inf, lo_open=True))
        object.__setattr__(self, "v_reset_std", number("v_reset_std", self.v_reset_std, 0, math.inf))
        if self.gpn_gates not in GPN_GATES:
            raise ConfigError("model.gpn_gates", f"unknown gate functions {self.gpn_gates!r}", valid=GPN_GATES)
        object.__setattr__(self, "weight_gain", number("weight_gain", self.weight_gain, 0, math.inf,
                                                       lo_open=True))
        object.__setattr__(self, "recurrent_gain", number("recurrent_gain", self.recurrent_gain, 0, math.inf))
        positive_int("quant_bits", self.quant_bits)
        if isinstance(self.quant_threshold, bool) or not isinstance(self.quant_threshold, int) \
                or not 0 <= self.quant_threshold < 2 ** (self.quant_bits - 1):
            raise ConfigError("model.quant_threshold",
                              f"must be an integer in 0..{2 ** (self.quant_bits - 1) - 1}, got {self.quant_threshold!r}")
        object.__setattr__(self, "quant_momentum", number("quant_momentum", self.quant_momentum, 0, 1,
                                                          lo_open=True))
        object.__setattr__(self, "beta_init", number("beta_init", self.beta_init, 0, 1))
        object.__setattr__(self, "b_init", number("b_init", self.b_init, 0, math.inf))
        if not isinstance(self.input_quant, bool) or (self.input_quant and self.neuron != "pr-v2"):
            raise ConfigError("model.input_quant", f"an input quantiser belongs to pr-v2 networks, got "
                                                   f"{self.input_quant!r} for {self.neuron!r}")
        if self.reset not in LIF_RESETS:
            raise ConfigError("model.reset", f"unknown reset {self.reset!r}", valid=LIF_RESETS)
        if self.s2net_reset not in S2NET_RESETS:
            raise ConfigError("model.s2net_reset", f"unknown reset {self.s2net_reset!r}", valid=S2NET_RESETS)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, numbers, strings, None); :meth:`from_dict` reads it back."""
        return dataclass_to_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "NetworkConfig":
        """Inverse of :meth:`to_dict`; missing keys take their defaults, unknown keys raise ConfigError."""
        return dataclass_from_dict(cls, d, section="model")

    def replace(self, **changes: Any) -> "NetworkConfig":
        return self.from_dict({**self.to_dict(), **changes})


# ----------------------------------------------------------------------------- registry

@dataclass(frozen=True)
class NeuronBuilder:
    """How to build one neuron kind from a NetworkConfig."""

    build: Callable[[int, NetworkConfig, Surrogate], NeuronPopulation]
    supports_recurrent: bool = False
    description: str = ""


def _build_lif(size: int, c: NetworkConfig, sg: Surrogate) -> NeuronPopulation:
    return LIF(size, sg, recurrent=c.recurrent, dv=c.dv_init, vth=c.vth_init, bias=c.neuron_bias,
               learn_decays=c.learn_decays, learn_thresholds=c.learn_thresholds, reset=c.reset)


def _build_cuba(size: int, c: NetworkConfig, sg: Surrogate) -> NeuronPopulation:
    return CubaLIF(size, sg, recurrent=c.recurrent, du=c.du_init, dv=c.dv_init, vth=c.vth_init,
                   bias=c.neuron_bias, learn_decays=c.learn_decays, learn_thresholds=c.learn_thresholds,
                   reset=c.reset)


def _build_gpn(size: int, c: NetworkConfig, sg: Surrogate) -> NeuronPopulation:
    return GPN(size, sg, v_reset_std=c.v_reset_std, gates=c.gpn_gates)


def _build_pr_v2(size: int, c: NetworkConfig, sg: Surrogate) -> NeuronPopulation:
    return PRv2(size, n_bits=c.quant_bits, threshold=c.quant_threshold, momentum=c.quant_momentum,
                batch_norm=c.batch_norm)


def _build_s2net(size: int, c: NetworkConfig, sg: Surrogate) -> NeuronPopulation:
    return S2NetLIF(size, sg, lateral=c.lateral, recurrent=c.recurrent, beta=c.beta_init, b=c.b_init,
                    reset=c.s2net_reset)


#: Hidden neuron kinds by name (one line per kind).
NEURON_BUILDERS: dict[str, NeuronBuilder] = {
    "lif": NeuronBuilder(_build_lif, True, "LIF (Loihi, du = 1), parametric"),
    "cuba-lif": NeuronBuilder(_build_cuba, True, "current-based LIF (Loihi), parametric"),
    "gpn": NeuronBuilder(_build_gpn, False, "gated parametric neuron (Wang et al. 2024)"),
    "pr-v2": NeuronBuilder(_build_pr_v2, False, "improved inherent recurrence v2, multi-bit (Ponghiran & Roy 2022)"),
    "s2net": NeuronBuilder(_build_s2net, True, "s2net dense layer, Deneve lateral connections (Zimmer et al.)"),
}


# ----------------------------------------------------------------------------- layers

class SequenceDropout(nn.Module):
    """Dropout with one mask per sample and feature, shared by all time steps.

    Input ``[batch, time, features]``; identity in evaluation mode or with ``p = 0``.
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = float(p)

    def mask(self, batch: int, features: int, device=None, dtype=torch.float32) -> torch.Tensor:
        """A scaled keep-mask [batch, 1, features] (ones when inactive)."""
        ones = torch.ones(batch, 1, features, device=device, dtype=dtype)
        if not self.training or self.p == 0:
            return ones
        return F.dropout(ones, self.p, training=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return x * self.mask(x.shape[0], x.shape[2], x.device, x.dtype)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class HiddenLayer(nn.Module):
    """Synapse (nn.Linear) + neuron population + sequence dropout."""

    def __init__(self, n_in: int, neuron: NeuronPopulation, *, dropout: float = 0.0,
                 synapse_bias: bool = False, weight_gain: float = 1.0):
        super().__init__()
        self.synapse = nn.Linear(n_in, neuron.in_features, bias=synapse_bias)
        if weight_gain != 1.0:
            with torch.no_grad():
                self.synapse.weight.mul_(weight_gain)
        self.neuron = neuron
        if hasattr(neuron, "bind_synapse"):  # neurons whose dynamics read W (s2net)
            neuron.bind_synapse(self.synapse)
        self.dropout = SequenceDropout(dropout)

    @property
    def kind(self) -> str:
        return self.neuron.kind

    @property
    def size(self) -> int:
        return self.neuron.size

    @property
    def recurrent(self) -> nn.Linear | None:
        return getattr(self.neuron, "recurrent", None)

    def neuron_params(self) -> dict[str, torch.Tensor]:
        return self.neuron.neuron_params()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Spikes [batch, time, size] of the layer for input ``x`` [batch, time, n_in] (no dropout)."""
        return self.neuron(self.synapse(x))[0]

    def initial_state(self, batch: int, device=None, dtype=torch.float32):
        return self.neuron.initial_state(batch, device, dtype)

    def step(self, x_t: torch.Tensor, state) -> tuple[torch.Tensor, Any]:
        """One step: ``x_t`` [batch, n_in] -> (spikes [batch, size], new state)."""
        return self.neuron.step(self.synapse(x_t), state)


class SpikingNetwork(nn.Module):
    """Hidden spiking layers and a non-spiking readout (see the module docstring)."""

    def __init__(self, config: NetworkConfig):
        super().__init__()
        self.config = config
        sg = make_surrogate(config.surrogate, config.surrogate_scale)
        builder = NEURON_BUILDERS[config.neuron]
        layers, n_in = [], config.input_size
        for size in config.hidden:
            layers.append(HiddenLayer(n_in, builder.build(size, config, sg), dropout=config.dropout,
                                      synapse_bias=config.synapse_bias, weight_gain=config.weight_gain))
            n_in = size
        self.layers = nn.ModuleList(layers)
        self.input_quant = (InputQuantizer(n_bits=config.quant_bits, threshold=config.quant_threshold,
                                           momentum=config.quant_momentum) if config.input_quant else None)
        if config.recurrent and config.recurrent_gain != 1.0:
            with torch.no_grad():
                for layer in self.layers:
                    if layer.recurrent is not None:
                        layer.recurrent.weight.mul_(config.recurrent_gain)
        if config.readout == "li":
            self.readout: nn.Module = LIReadout(n_in, config.n_classes, reduce=config.readout_reduce,
                                                dv=config.readout_dv_init, learn_decays=config.learn_decays)
        else:
            self.readout = MeanLinearReadout(n_in, config.n_classes)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ShapeMismatchError unless ``x`` is [batch, time, input_size]."""
        if x.ndim != 3 or x.shape[-1] != self.config.input_size:
            raise ShapeMismatchError("network input [batch, time, features]",
                                     f"[*, *, {self.config.input_size}]", tuple(x.shape),
                                     remedy="bin the data with as many features as the model's input_size "
                                            "(channels / pool)")

    def forward(self, x: torch.Tensor, return_spikes: bool = False):
        """Logits [batch, n_classes] (and the hidden layers' spikes if ``return_spikes``)."""
        self.check_input(x)
        spikes = []
        h = x if self.input_quant is None else self.input_quant(x)
        for layer in self.layers:
            s = layer(h)
            spikes.append(s)
            h = layer.dropout(s)
        logits = self.readout(h)
        return (logits, spikes) if return_spikes else logits

    # -- step by step ----------------------------------------------------------------------
    def initial_state(self, batch: int, device=None, dtype=torch.float32) -> list:
        """Per-layer neuron states, then the readout's (the mean readout's running sum), then the
        input quantiser's accumulator when the network has one."""
        states = [layer.initial_state(batch, device, dtype) for layer in self.layers]
        states.append(torch.zeros(batch, self.config.n_classes, device=device, dtype=dtype))
        if self.input_quant is not None:
            states.append(torch.zeros(batch, self.config.input_size, device=device, dtype=dtype))
        return states

    def step(self, x_t: torch.Tensor, states: list) -> tuple[torch.Tensor, list[torch.Tensor], list]:
        """One time step, no dropout: ``x_t`` [batch, input_size] -> (readout voltage
        [batch, n_classes], spikes of each hidden layer, new states). The mean readout's
        "voltage" is the running sum of ``W s_t + b`` (divide by the steps for the logits)."""
        n = len(self.layers)
        h, new, spikes, tail = x_t, [], [], []
        if self.input_quant is not None:
            h, acc = self.input_quant.step(x_t, states[n + 1])
            tail.append(acc)
        for layer, st in zip(self.layers, states[:n]):
            h, st = layer.step(h, st)
            spikes.append(h)
            new.append(st)
        r = self.readout
        if isinstance(r, LIReadout):
            v, _ = li_step(r.synapse(h), LIState(states[n]), r.neuron.params())
        else:
            v = states[n] + r.synapse(h) + r.bias
        new.append(v)
        return v, spikes, new + tail

    def forward_steps(self, x: torch.Tensor) -> torch.Tensor:
        """Logits computed step by step through :meth:`step` (evaluation semantics: no dropout,
        GPN reset values as the module's mode gives them)."""
        self.check_input(x)
        states = self.initial_state(x.shape[0], x.device, x.dtype)
        vs = []
        for x_t in x.transpose(0, 1).unbind(0):
            v, _, states = self.step(x_t, states)
            vs.append(v)
        trace = torch.stack(vs, 1)
        reduce = self.readout.reduce
        if reduce == "max":
            return trace.amax(1)
        if reduce == "last":
            return trace[:, -1]
        return trace[:, -1] / x.shape[1]

    def firing_rates(self, spikes: list[torch.Tensor]) -> list[float]:
        """Events (non-zero outputs) per neuron per step of each hidden layer."""
        return [float((s.detach() != 0).float().mean()) for s in spikes]

    @torch.no_grad()
    def constrain_(self) -> None:
        """Project parameters kept in range by clamping (s2net's beta and b) back into it;
        the training loop calls this after every optimiser step. A no-op for other neurons."""
        for layer in self.layers:
            fn = getattr(layer.neuron, "constrain_", None)
            if fn is not None:
                fn()

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def network_config(d: Mapping[str, Any]) -> NetworkConfig | ConvNetworkConfig:
    """A network config from its ``to_dict`` form: s2net's conv network when ``kind`` says so."""
    if d.get("kind") == ConvNetworkConfig.kind:
        return ConvNetworkConfig.from_dict(dict(d))
    return NetworkConfig.from_dict(d)


def build_network(config: NetworkConfig | ConvNetworkConfig | Mapping[str, Any]) -> SpikingNetwork:
    """Build a network from a config (or its ``to_dict`` form); a ConvNetworkConfig builds
    s2net's :class:`~.conv.ConvSpikingNetwork`."""
    if not isinstance(config, (NetworkConfig, ConvNetworkConfig)):
        config = network_config(config)
    return ConvSpikingNetwork(config) if isinstance(config, ConvNetworkConfig) else SpikingNetwork(config)
