"""The integer network of a Loihi 2 deployment whose neurons are programs of their own.

A :class:`Loihi2Network` is a stack of hidden layers whose neurons Loihi 2 runs as programs
(Lava processes of our own beside Lava's Dense), and a non-spiking Lava LIF readout
(:class:`~spikedeploy.quant.loihi_network.LoihiLayer`). The layer kinds, one module each:

- :class:`~spikedeploy.quant.pr_graded.PrGradedLayer` (``"pr-v2"``): Ponghiran & Roy's
  neuron, forget gate computed, graded multi-bit outputs;
- :class:`~spikedeploy.quant.gpn_graded.GpnGradedLayer` (``"gpn"``): the hardware-friendly
  GPN, its four gates computed from a graded broadcast of its state; binary spike outputs.

Each layer says the payload width it sends forward (``out_bits``: 0 for binary spikes) and
back to itself (``rec_bits``); the chip profile's ``graded_spike_bits`` bounds both (Loihi 1
carries binary spikes only: refused, naming the layer and the width). The input is binary
spikes. The emulator (:mod:`.loihi2_emulator`) and the Lava builder
(:mod:`spikedeploy.lava_backend.loihi2`) run it bit for bit alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import ConfigError, QuantizationError, ShapeMismatchError
from ..hardware import FixedPointSpec, load_chip
from ..netspec import LayerStack
from .gpn_graded import GpnGradedLayer
from .loihi_network import LoihiLayer
from .pr_graded import PrGradedLayer

#: Tag of :meth:`Loihi2Network.to_dict`.
FORMAT = "spikedeploy.loihi2_network"
#: The hidden layer kinds by their ``kind`` tag.
LAYER_KINDS = {cls.kind: cls for cls in (PrGradedLayer, GpnGradedLayer)}


@dataclass(frozen=True, eq=False)
class Loihi2Network(LayerStack):
    """Hidden layers of :data:`LAYER_KINDS` and a non-spiking readout (module docstring)."""

    input_size: int
    layers: tuple[Any, ...]
    chip: str = "loihi2"
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        if len(self.layers) < 2:
            raise ConfigError("layers", "a Loihi 2 network needs hidden layers and a readout")
        *hidden, readout = self.layers
        kinds = tuple(LAYER_KINDS.values())
        for layer in hidden:
            if not isinstance(layer, kinds):
                raise ConfigError("layers", f"expected one of {sorted(LAYER_KINDS)} layers before the readout, got "
                                            f"{type(layer).__name__}")
        if not isinstance(readout, LoihiLayer) or readout.spiking or readout.recurrent or readout.delayed:
            raise ConfigError("layers", "the last layer must be a non-spiking, non-recurrent LoihiLayer readout")
        profile = load_chip(self.chip)
        spec = profile.require_fixed_point()
        width = profile.limit("graded_spike_bits") or 0
        size = int(self.input_size)
        for layer in self.layers:
            if layer.n_in != size:
                raise ShapeMismatchError(f"layer {layer.name!r} input", size, layer.n_in)
            layer.validate(spec)
            bits = max(getattr(layer, "out_bits", 0), getattr(layer, "rec_bits", 0))
            if bits > width:
                raise QuantizationError(layer.name, "bits", f"{bits}-bit graded payloads; {self.chip} carries "
                                        + ("binary spikes only" if not width else f"at most {width} bits"),
                                        remedy="deploy on Loihi 2 (fold --target loihi2), or fold to binary spikes "
                                               "(fold --target loihi1)")
            size = layer.n_out
        object.__setattr__(self, "metadata", dict(self.metadata))

    @property
    def spec(self) -> FixedPointSpec:
        return load_chip(self.chip).require_fixed_point()

    @property
    def hidden(self) -> tuple[Any, ...]:
        return self.layers[:-1]

    @property
    def readout(self) -> LoihiLayer:
        return self.layers[-1]

    @property
    def output_size(self) -> int:
        return self.readout.n_out

    def message_bits(self, index: int) -> int:
        """The payload width layer ``index`` receives from its source: 0 (binary) for the first."""
        return 0 if index == 0 else self.layers[index - 1].out_bits

    def summary(self) -> str:
        lines = [f"Loihi2Network({self.chip}): {self.input_size} binary inputs"]
        for l in self.hidden:
            if l.kind == "pr-v2":
                lines.append(f"  {l.name}: {l.n_in} -> {l.n_out} pr-v2 (gates computed), graded {l.bits}-bit outputs, "
                             f"level 2^{l.level_exp}, exps f {l.wf_exp}/{l.uf_exp} c {l.wc_exp}/{l.uc_exp}")
            else:
                lines.append(f"  {l.name}: {l.n_in} -> {l.n_out} GPN (gates computed), binary spikes out, graded "
                             f"{l.v_bits}-bit broadcast of v (1.0 = 2^{l.v_exp}, {l.v_shift} low bits dropped), "
                             f"{l.gate_frac}-bit gates")
        r = self.readout
        lines.append(f"  {r.name}: {r.n_in} -> {r.n_out} readout (non-spiking LIF), weight_exp {r.weight_exp}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": 1, "input_size": int(self.input_size), "chip": self.chip,
                "metadata": dict(self.metadata), "layers": [l.to_dict() for l in self.layers]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Loihi2Network":
        if d.get("format") != FORMAT:
            raise ConfigError("format", f"expected {FORMAT!r}, got {d.get('format')!r}")
        *hidden, readout = d["layers"]
        for l in hidden:
            if l.get("kind") not in LAYER_KINDS:
                raise ConfigError("layer kind", f"unknown kind {l.get('kind')!r}", valid=sorted(LAYER_KINDS))
        return cls(input_size=int(d["input_size"]), chip=str(d.get("chip", "loihi2")),
                   metadata=dict(d.get("metadata", {})),
                   layers=(*(LAYER_KINDS[l["kind"]].from_dict(l) for l in hidden), LoihiLayer.from_dict(readout)))
