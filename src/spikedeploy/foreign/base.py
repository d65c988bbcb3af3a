"""What every reader of another tool's model shares: its options, its result, and a
state dict that names what is wrong with it.

A reader turns the weights of a network trained elsewhere into a
:class:`~spikedeploy.models.networks.SpikingNetwork` whose float forward pass is the
source's (every difference is named in :attr:`Converted.notes`). It never guesses a
value the source does not store: time steps, neuron kinds and quantiser settings the
keys cannot tell come from :class:`ForeignOptions`, and a reader that needs one that
was not given says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
from torch import nn

from ..data.shd import BinningConfig
from ..errors import ForeignModelError
from ..models.networks import SpikingNetwork


@dataclass(frozen=True)
class ForeignOptions:
    """What a foreign file does not store (each reader says which it needs).

    time_steps  frames per sample the source was trained with (its binning)
    neuron      the neuron kind where the keys cannot tell (hr-gpn-snn: ``LIF`` or ``IF``)
    n_bits      imp-snns: the quantiser's bits (``n_bits`` of the source's cfg)
    threshold   imp-snns: the quantiser's threshold level (``threshold`` of the cfg)
    tau         hr-gpn-snn LIF: the membrane time constant in steps (the source's default 5)
    v_th        hr-gpn-snn: the firing threshold (the source's default 0.5)
    lateral     s2net: the layers' ``lateral_connections`` (not stored; the source's default True)
    """

    time_steps: int | None = None
    neuron: str | None = None
    n_bits: int | None = None
    threshold: int | None = None
    tau: float = 5.0
    v_th: float = 0.5
    lateral: bool = True

    def __post_init__(self) -> None:
        for name in ("time_steps", "n_bits"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ForeignModelError("options", f"{name} must be a positive integer, got {value!r}")
        if self.threshold is not None and (isinstance(self.threshold, bool) or not isinstance(self.threshold, int)
                                           or self.threshold < 0):
            raise ForeignModelError("options", f"threshold must be an integer >= 0, got {self.threshold!r}")
        if not (isinstance(self.tau, (int, float)) and self.tau >= 1):
            raise ForeignModelError("options", f"tau must be a number >= 1 (steps), got {self.tau!r}")
        if not (isinstance(self.v_th, (int, float)) and self.v_th > 0):
            raise ForeignModelError("options", f"v_th must be positive, got {self.v_th!r}")


@dataclass(frozen=True)
class Converted:
    """A foreign model read into a spikedeploy network (evaluation mode, float32).

    reader    the ``--from`` name that read it
    layout    what it was recognised as (e.g. ``SNN_base_1_1024 with GPN neurons``)
    binning   how the source binned its input (None: the reader cannot tell)
    notes     every way the network's semantics differ from the source's (empty: none)
    """

    network: SpikingNetwork
    reader: str
    layout: str
    binning: BinningConfig | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reader:
    """One ``--from`` name: ``detect(state) -> layout or None`` (never raises), and
    ``convert(state, options) -> Converted``; ``keys``: the key pattern, for messages."""

    name: str
    description: str
    detect: Callable[[StateDict], str | None]
    convert: Callable[[StateDict, ForeignOptions], Converted]
    keys: str


@dataclass
class StateDict:
    """A foreign state dict being read: every lookup is recorded, so that what was not read
    can be named (:meth:`check_all_read`), and every problem names the source and tensor."""

    tensors: Mapping[str, torch.Tensor]
    source: str
    reader: str | None = None
    read: set[str] = field(default_factory=set)

    def error(self, problem: str, *, tensor: str | None = None, remedy: str | None = None) -> ForeignModelError:
        return ForeignModelError(self.source, problem, reader=self.reader, tensor=tensor, remedy=remedy)

    def has(self, key: str) -> bool:
        return key in self.tensors

    def get(self, key: str, shape: tuple[int | None, ...] | None = None) -> torch.Tensor:
        """The tensor ``key`` as float64 (``shape``: the expected shape, None entries free)."""
        if key not in self.tensors:
            raise self.error("missing key", tensor=key, remedy=f"the file lacks {key!r}: save the whole "
                             "state dict of the model (torch.save(model.state_dict(), path))")
        t = self.tensors[key]
        if not isinstance(t, torch.Tensor):
            raise self.error(f"expected a tensor, got {type(t).__name__}", tensor=key)
        if shape is not None and (t.ndim != len(shape)
                                  or any(s is not None and s != n for s, n in zip(shape, t.shape))):
            want = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
            raise self.error(f"shape {list(t.shape)} does not fit the layout (expected {want})", tensor=key,
                             remedy="the tensors disagree with each other: was the file edited, or saved from "
                                    "another model?")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise self.error("holds NaN or inf", tensor=key, remedy="retrain or repair the model")
        self.read.add(key)
        return t.detach().to(torch.float64)

    def scalar(self, key: str) -> float:
        t = self.get(key)
        if t.numel() != 1:
            raise self.error(f"expected one value, got shape {list(t.shape)}", tensor=key)
        return float(t.reshape(()))

    def mark_read(self, *keys: str) -> None:
        """Keys that belong to the layout but carry nothing the conversion needs."""
        self.read.update(k for k in keys if k in self.tensors)

    def check_all_read(self, layout: str) -> None:
        extra = sorted(set(self.tensors) - self.read)
        if extra:
            more = f" and {len(extra) - 8} more" if len(extra) > 8 else ""
            raise self.error(f"unexpected keys for {layout}: {extra[:8]}{more}",
                             remedy="the file holds more than this layout has: another architecture, or "
                                    "parameters this reader does not know; choose the matching --from")


def set_linear(linear: nn.Linear, weight: torch.Tensor, bias: torch.Tensor | None = None) -> None:
    """Copy ``weight`` (and ``bias``) into ``linear`` (shapes checked by the caller)."""
    with torch.no_grad():
        linear.weight.copy_(weight.to(linear.weight.dtype))
        if bias is not None:
            linear.bias.copy_(bias.to(linear.bias.dtype))


def finish(net: SpikingNetwork) -> SpikingNetwork:
    """The converted network in evaluation mode, float32."""
    return net.float().eval()


def layer_count(state: StateDict, pattern: Callable[[int], str], first: int = 1) -> int:
    """How many consecutive ``pattern(i)`` keys (i = first, first + 1, ...) the state dict holds."""
    n = 0
    while state.has(pattern(first + n)):
        n += 1
    return n


def describe(options: ForeignOptions) -> dict[str, Any]:
    """The options as plain data (for the checkpoint's record of the conversion)."""
    return {k: v for k, v in options.__dict__.items() if v is not None}
