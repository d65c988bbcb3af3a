"""What Lava's processes are given, from an integer or a float network: the builder's one input.

The builder (:mod:`.build`) takes a :class:`LavaNetwork`: per layer the weights, the
exponents, the biases and the per-neuron ``du``, ``dv``, ``vth`` exactly as Lava's
processes take them in the run's configuration. Two small adapters make one:

* :func:`from_integers` -- a :class:`~spikedeploy.quant.loihi_network.LoihiNetwork`.
  ``fixed_pt``: the integers as they are. ``floating_pt`` (Lava's float models on the
  integer network): Lava's float Dense ignores ``weight_exp`` and its float LIF computes
  ``u = u (1 - du) + a_in; v = v (1 - dv) + u + bias_mant; s = v > vth``, so
  ``weight = w 2^weight_exp``, ``du = (du_int + 1) / 4096``, ``dv = dv_int / 4096``,
  ``bias = bias_mant 2^bias_exp / 64``, ``vth = vth_int``, in units where ``v_float * 64 =
  v_int``: recordings are multiplied by ``state_scale = 64`` to read as integers.
* :func:`from_float` -- a float :class:`~spikedeploy.netspec.NetworkSpec` in ``floating_pt``.
  Lava's float LIF and Dense are the spec's own equations (``netspec``), so the spec's
  values go in as they are (``vth`` = +inf for a non-spiking readout) and recordings are
  in the spec's units (``state_scale = 1``). What differs from the PyTorch float model
  (:class:`~spikedeploy.models.spec_network.SpecNetwork`) is arithmetic only: Lava works
  in float64 and sums the synaptic input per connection process, a different summation
  order than a matrix product (``docs/lava-backend.md`` reports the agreement).

Neurons are grouped by ``(du, dv, vth)`` with the project's one rule
(:func:`~spikedeploy.quant.loihi_network.decay_groups`): one LIF process per group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..delays import NO_DELAYS, taps
from ..errors import ConfigError
from ..hardware import FixedPointSpec
from ..netspec import LayerStack, NetworkSpec
from ..quant.loihi_network import DecayGroup, LoihiLayer, LoihiNetwork, decay_groups

#: Lava run configurations (``Loihi2SimCfg(select_tag=...)``).
CONFIGS = ("fixed_pt", "floating_pt")


@dataclass(frozen=True, eq=False)
class LavaLayer:
    """One layer as Lava's processes take it.

    ``weight`` [n, n_in] / ``rec_weight`` [n, n]: integers (``fixed_pt``) or float64 with the
    exponent applied (``floating_pt``); ``weight_exp`` / ``rec_exp``: the Dense exponents
    (``fixed_pt`` applies them; a float network keeps its integer network's, or 0);
    ``bias``: per-neuron ``bias_mant`` (shifted by ``bias_exp``) or the float bias;
    ``du``, ``dv``, ``vth``: per neuron, as the LIF process takes them; ``delays``: the feed-forward
    taps side by side in ``weight`` (``spikedeploy.delays``), one connection process each.
    """

    name: str
    spiking: bool
    weight: np.ndarray
    weight_exp: int
    sign_mode: str
    num_weight_bits: int
    bias: np.ndarray
    bias_exp: int
    du: np.ndarray
    dv: np.ndarray
    vth: np.ndarray
    rec_weight: np.ndarray | None = None
    rec_exp: int = 0
    rec_sign_mode: str | None = None
    delays: tuple[int, ...] = NO_DELAYS

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])

    @property
    def delayed(self) -> bool:
        return self.delays != NO_DELAYS

    def taps(self) -> list[tuple[int, np.ndarray]]:
        return taps(self.weight, self.delays)

    @property
    def recurrent(self) -> bool:
        return self.rec_weight is not None

    def decay_groups(self) -> tuple[DecayGroup, ...]:
        """One LIF process per group of neurons sharing (du, dv, vth)."""
        return decay_groups(self.du, self.dv, self.vth)

    def whole_layer(self) -> DecayGroup:
        """All neurons as one group with per-neuron du, dv, vth arrays (``decays="per-neuron"``)."""
        idx = np.arange(self.n_out, dtype=np.int64)
        idx.setflags(write=False)
        return DecayGroup(self.du, self.dv, self.vth, idx)


@dataclass(frozen=True, eq=False)
class LavaNetwork(LayerStack):
    """The layers of one Lava run, its configuration, and the factor that turns recorded
    ``v`` and ``u`` into the source network's units."""

    config: str
    input_size: int
    layers: tuple[LavaLayer, ...]
    state_scale: float = 1.0
    input_bits: int = 0          # graded input payloads (the first layer's num_message_bits); 0: binary spikes


def _integer_layer(layer: LoihiLayer, fixed: bool, spec: FixedPointSpec) -> LavaLayer:
    common = dict(name=layer.name, spiking=layer.spiking, weight_exp=layer.weight_exp, sign_mode=layer.sign_mode,
                  num_weight_bits=layer.num_weight_bits, rec_exp=layer.rec_exp, rec_sign_mode=layer.rec_sign_mode,
                  delays=layer.delays)
    if fixed:
        return LavaLayer(weight=layer.weight, bias=layer.bias_mant, bias_exp=layer.bias_exp, du=layer.du,
                         dv=layer.dv, vth=layer.vth, rec_weight=layer.rec_weight, **common)
    unit = float(spec.decay_unity)
    return LavaLayer(
        weight=layer.weight.astype(np.float64) * 2.0 ** layer.weight_exp,
        rec_weight=None if layer.rec_weight is None else layer.rec_weight.astype(np.float64) * 2.0 ** layer.rec_exp,
        du=(layer.du.astype(np.float64) + spec.current_decay_offset) / unit,
        dv=(layer.dv.astype(np.float64) + spec.voltage_decay_offset) / unit,
        vth=layer.vth.astype(np.float64),       # (vth << 6) / 64
        bias=layer.bias_mant.astype(np.float64) * 2.0 ** layer.bias_exp / float(1 << spec.activation_shift),
        bias_exp=0, **common)


def from_integers(net: LoihiNetwork, config: str = "fixed_pt") -> LavaNetwork:
    """The integer network for ``fixed_pt`` (as it is) or ``floating_pt`` (module docstring)."""
    if config not in CONFIGS:
        raise ConfigError("config", f"unknown Lava configuration {config!r}", valid=CONFIGS)
    fixed = config == "fixed_pt"
    spec = net.spec
    scale = 1.0 if fixed else float(1 << spec.activation_shift)
    return LavaNetwork(config, net.input_size, tuple(_integer_layer(l, fixed, spec) for l in net.layers), scale,
                       net.input_bits)


def from_float(spec: NetworkSpec) -> LavaNetwork:
    """The float network for ``floating_pt``, its values as they are (module docstring)."""
    if not isinstance(spec, NetworkSpec):
        raise ConfigError("spec", f"expected a NetworkSpec, got {type(spec).__name__}")
    layers = []
    for layer in spec.layers:
        if not layer.spiking and layer is not spec.layers[-1]:
            raise ConfigError(f"layer {layer.name!r}", "a non-spiking layer feeds another layer; Lava's "
                              "layers pass spikes", remedy="only the last layer may be non-spiking")
        n = layer.n_out
        layers.append(LavaLayer(
            name=layer.name, spiking=layer.spiking, weight=layer.weight.astype(np.float64), weight_exp=0,
            sign_mode="mixed", num_weight_bits=8, bias=layer.bias.astype(np.float64), bias_exp=0,
            du=layer.du.astype(np.float64), dv=layer.dv.astype(np.float64),
            vth=np.full(n, np.inf) if layer.vth is None else layer.vth.astype(np.float64),
            rec_weight=None if layer.rec_weight is None else layer.rec_weight.astype(np.float64),
            rec_sign_mode=None if layer.rec_weight is None else "mixed", delays=layer.delays))
    # a network reading graded payloads (quant.graded_input) takes them as they are, not as spikes
    return LavaNetwork("floating_pt", int(spec.input_size), tuple(layers), 1.0,
                       int(spec.metadata.get("input_bits", 0)))


def lava_network(net: LoihiNetwork | NetworkSpec | LavaNetwork, config: str = "fixed_pt") -> LavaNetwork:
    """The adapter for ``net``: an integer network in either configuration, a float spec in
    ``floating_pt`` only (it has no integers); a LavaNetwork of that configuration as it is."""
    if isinstance(net, LavaNetwork):
        if net.config != config:
            raise ConfigError("config", f"the network was made for {net.config!r}, not {config!r}")
        return net
    if isinstance(net, NetworkSpec):
        if config != "floating_pt":
            raise ConfigError("config", "a float network runs in floating_pt only (fixed_pt needs its integers)",
                              valid=("floating_pt",), remedy="quantise it first (spikedeploy.quant.ptq.quantize)")
        return from_float(net)
    if isinstance(net, LoihiNetwork):
        return from_integers(net, config)
    raise ConfigError("network", f"expected a LoihiNetwork or a NetworkSpec, got {type(net).__name__}")


def per_neuron_problem(net: LavaNetwork) -> str | None:
    """Why ``decays="per-neuron"`` cannot reproduce the emulator for ``net`` (None: it can).
    With one process per layer, a negative exponent floors the whole sum; the emulator floors
    per source decay group (the groups mode's connections)."""
    for i, layer in enumerate(net.layers):
        links: list[tuple[int, Any]] = [(layer.weight_exp, net.layers[i - 1] if i else None)]
        if layer.recurrent:
            links.append((layer.rec_exp, layer))
        for exp, source in links:
            if exp < 0 and source is not None and len(source.decay_groups()) > 1:
                return (f"layer {layer.name!r} has a negative weight exponent ({exp}) on input from "
                        f"{len(source.decay_groups())} decay groups: per-neuron processes would floor the whole sum, "
                        "the emulator (and the groups mode) floor per group")
    return None


__all__ = ["CONFIGS", "LavaLayer", "LavaNetwork", "from_float", "from_integers", "lava_network", "per_neuron_problem"]
