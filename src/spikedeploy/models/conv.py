"""s2net's convolutional spiking layers (Zimmer, Pellegrini, Masquelier; ``SpikingConv2DLayer``
of ``romainzimmer/s2net``): a convolution as the synapse, s2net's neuron at every position.

Input per sample ``[T, C_in, F]`` (time, channels, frequency); output spikes ``[T, C, F]``.
Two synapses:

- ``conv1d``: a ``Conv1d`` over frequency applied at each step (kernel ``k`` bands,
  dilation ``d``, "same" zero padding in frequency);
- ``conv2d``: a ``Conv2d`` over (time, frequency), kernel ``(kt, kf)``, dilation ``(dt, df)``,
  **causal in time** (``dt (kt - 1)`` zero steps before the first: the output at step t reads
  the inputs of steps t, t - dt, ..., t - dt (kt - 1): synaptic delays) and "same" in frequency.

The neurons: s2net's dynamics (:mod:`.neurons.s2net`) with one ``beta`` per layer and one
threshold ``b`` per channel, per position. The weight vector of channel ``c`` is its whole
kernel ``w_c`` (``C_in x kt x kf`` numbers), its norm ``||w_c||^2`` scales the threshold, and
the lateral term ``D = W W^T`` (``W`` the kernels flattened, ``[C, C_in kt kf]``) acts
between the channels **at the same position**: when channel ``j`` fires at frequency ``f``,
channel ``i`` at ``f`` loses ``<w_i, w_j>``; its diagonal is the subtractive self-reset.
(The positions are folded into the batch, so the dense step function runs unchanged.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..config import dataclass_from_dict, dataclass_to_dict
from ..errors import ConfigError, ShapeMismatchError
from .neurons.s2net import S2NetLIF, S2NetState
from .readout import LIReadout, MeanLinearReadout
from .surrogate import Surrogate, make_surrogate

KINDS = ("conv1d", "conv2d")


class S2NetConv(nn.Module):
    """One convolutional s2net layer (module docstring)."""

    kind: ClassVar[str] = "s2net-conv"

    def __init__(self, in_channels: int, channels: int, surrogate: Surrogate, *, conv: str = "conv1d",
                 kernel: tuple[int, ...] = (3,), dilation: tuple[int, ...] = (1,), lateral: bool = True,
                 beta: float = 0.7, b: float = 1.0, reset: str = "subtract", b_min: float = 0.0):
        super().__init__()
        if conv not in KINDS:
            raise ConfigError("conv", f"unknown convolution {conv!r}", valid=KINDS)
        dims = 1 if conv == "conv1d" else 2
        kernel, dilation = tuple(int(k) for k in kernel), tuple(int(d) for d in dilation)
        if len(kernel) != dims or len(dilation) != dims or min(kernel + dilation) < 1:
            raise ConfigError("kernel / dilation", f"{conv} needs {dims} positive sizes each, got {kernel}, {dilation}")
        if kernel[-1] % 2 == 0:
            raise ConfigError("kernel", f"the frequency extent must be odd for 'same' padding, got {kernel[-1]}")
        self.conv_kind, self.kernel, self.dilation = conv, kernel, dilation
        cls = nn.Conv1d if dims == 1 else nn.Conv2d
        self.synapse = cls(in_channels, channels, kernel, dilation=dilation, bias=False)
        self.neuron = S2NetLIF(channels, surrogate, lateral=lateral, beta=beta, b=b, reset=reset, b_min=b_min)
        self.neuron.bind_synapse(self.synapse)

    @property
    def channels(self) -> int:
        return self.synapse.out_channels

    @property
    def delay(self) -> int:
        """Steps back the kernel reaches: ``dt (kt - 1)`` (0 for ``conv1d``)."""
        return 0 if self.conv_kind == "conv1d" else self.dilation[0] * (self.kernel[0] - 1)

    def convolve(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``weight`` applied as this layer's convolution (its dilation, "same" in frequency, causal
        in time) to ``x`` [B, T, C_in, F] -> [B, T, C, F], every step at once. The synapse's own
        weight gives :meth:`currents`; the operation counts and the dense form use other ones."""
        if x.ndim != 4 or x.shape[2] != self.synapse.in_channels:
            raise ShapeMismatchError("conv layer input [batch, time, channels, frequency]",
                                     f"[*, *, {self.synapse.in_channels}, *]", tuple(x.shape))
        pad_f = self.dilation[-1] * (self.kernel[-1] - 1) // 2
        if self.conv_kind == "conv1d":
            b, t = x.shape[:2]
            y = F.conv1d(x.reshape(b * t, *x.shape[2:]), weight, padding=pad_f, dilation=self.dilation)
            return y.reshape(b, t, *y.shape[1:])
        xt = F.pad(x.transpose(1, 2), (pad_f, pad_f, self.delay, 0))      # [B, C_in, T + delay, F + 2 pad]
        return F.conv2d(xt, weight, dilation=self.dilation).transpose(1, 2)

    def currents(self, x: torch.Tensor) -> torch.Tensor:
        """The synapse's output ``[B, T, C, F]`` for input ``[B, T, C_in, F]`` (every step at once)."""
        return self.convolve(x, self.synapse.weight)

    def forward(self, x: torch.Tensor, state: S2NetState | None = None) -> tuple[torch.Tensor, S2NetState]:
        """Spikes ``[B, T, C, F]`` and the final state (positions folded into the batch: ``[B F, C]``)."""
        cur = self.currents(x)
        b, t, c, f = cur.shape
        folded = cur.permute(0, 3, 1, 2).reshape(b * f, t, c)              # [B F, T, C]
        s, st = self.neuron(folded, state)
        return s.reshape(b, f, t, c).permute(0, 2, 3, 1), st


@dataclass(frozen=True)
class ConvLayerSpec:
    """One conv layer: output channels, kernel and dilation ((time, frequency) for conv2d)."""

    channels: int
    kernel: tuple[int, ...]
    dilation: tuple[int, ...]


#: s2net's Google Speech Commands network (Zimmer et al. 2019): three conv2d layers of 64 channels.
GSC_PAPER = (ConvLayerSpec(64, (4, 3), (1, 1)), ConvLayerSpec(64, (4, 3), (4, 3)), ConvLayerSpec(64, (4, 3), (16, 9)))
#: A smaller network of the same shape for 2-core machines.
GSC_SMALL = (ConvLayerSpec(16, (4, 3), (1, 1)), ConvLayerSpec(16, (4, 3), (4, 3)))


@dataclass(frozen=True)
class ConvNetworkConfig:
    """Everything needed to rebuild a :class:`ConvSpikingNetwork` (stored in its checkpoint).

    in_channels, bands   the input: channels (3: log-Mel, deltas, delta-deltas) and frequency bands
    n_classes            output classes
    layers               one :class:`ConvLayerSpec` per conv layer, input side first
    conv                 "conv2d" (time x frequency, causal in time) or "conv1d" (frequency only)
    lateral, reset       s2net's lateral connections D = W W^T; "subtract" (the paper) or "zero"
    surrogate            surrogate gradient name (s2net: "sigmoid")
    readout              "mean-linear" (``mean_t (W s_t + b)``) or "li" (a leaky integrator, the max over
                         time of its voltage; ``readout_dv_init`` its initial decay)
    b_min                the thresholds' floor in training (s2net: 0). Deployment divides each neuron's
                         weights by its threshold, so one near 0 swamps its layer's fixed-point scale.
    words                GSC data: empty, one class per word folder; else these words, then "unknown"
                         (the other folders) and "silence" (``data.gsc``): ``n_classes = len(words) + 2``
    """

    in_channels: int = 3
    bands: int = 40
    n_classes: int = 12
    layers: tuple[ConvLayerSpec, ...] = GSC_SMALL
    conv: str = "conv2d"
    lateral: bool = True
    reset: str = "subtract"
    surrogate: str = "sigmoid"
    b_min: float = 0.0
    readout: str = "mean-linear"
    readout_dv_init: float = 0.1
    words: tuple[str, ...] = ()
    kind: ClassVar[str] = "s2net-conv"

    def __post_init__(self) -> None:
        layers = tuple(l if isinstance(l, ConvLayerSpec) else ConvLayerSpec(
            int(l["channels"]), tuple(l["kernel"]), tuple(l["dilation"])) for l in self.layers)
        if not layers:
            raise ConfigError("model.layers", "a convolutional network needs at least one layer")
        object.__setattr__(self, "layers", layers)
        for name in ("in_channels", "bands", "n_classes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"model.{name}", f"must be a positive integer, got {v!r}")
        object.__setattr__(self, "words", tuple(str(w) for w in self.words))
        if self.words and self.n_classes != len(self.words) + 2:
            raise ConfigError("model.n_classes", f"{len(self.words)} words + unknown + silence make "
                              f"{len(self.words) + 2} classes, not {self.n_classes}",
                              remedy=f"set n_classes = {len(self.words) + 2}")
        if self.readout not in ("mean-linear", "li"):
            raise ConfigError("model.readout", f"unknown readout {self.readout!r}", valid=("mean-linear", "li"))

    def to_dict(self) -> dict:
        """Plain data with ``kind`` (what tells it from a NetworkConfig); :meth:`from_dict` reads it back."""
        return {"kind": self.kind, **dataclass_to_dict(self), "layers": [dataclass_to_dict(l) for l in self.layers]}

    # what the training loop and its messages read of any network config
    @property
    def input_size(self) -> int:
        """Features per input frame: channels x bands (the frames are flattened channel-major)."""
        return self.in_channels * self.bands

    @property
    def hidden(self) -> tuple[int, ...]:
        """Neurons per layer (channels x bands)."""
        return tuple(l.channels * self.bands for l in self.layers)

    @property
    def neuron(self) -> str:
        return self.kind

    @classmethod
    def from_dict(cls, d: dict) -> "ConvNetworkConfig":
        """Inverse of :meth:`to_dict`; missing keys take their defaults, unknown keys raise ConfigError."""
        return dataclass_from_dict(cls, {k: v for k, v in d.items() if k != "kind"}, section="model")


class ConvSpikingNetwork(nn.Module):
    """s2net's convolutional SNN: S2NetConv layers and a non-spiking readout over the last layer's
    spikes flattened (channels x bands): ``mean_t (W s_t + b)`` or a leaky integrator's maximum.

    Input ``[B, T, C_in * F]`` (channels x bands flattened, as :class:`~spikedeploy.training.loop.
    TensorData` holds frames) or ``[B, T, C_in, F]``, standardised by the buffers ``input_mean``
    and ``input_std`` [C_in, F] (the training set's statistics, :meth:`set_input_norm`; saved
    with the weights). ``forward(x, return_spikes=True)`` also returns each layer's spikes
    ``[B, T, C, F]`` (the training loop's activity penalty and rates).
    """

    def __init__(self, config: ConvNetworkConfig):
        super().__init__()
        self.config = config
        self.in_channels, self.bands = config.in_channels, config.bands
        surrogate = make_surrogate(config.surrogate)
        mods, c_in = [], self.in_channels
        for spec in config.layers:
            mods.append(S2NetConv(c_in, spec.channels, surrogate, conv=config.conv, kernel=spec.kernel,
                                  dilation=spec.dilation, lateral=config.lateral, reset=config.reset,
                                  b_min=config.b_min))
            c_in = spec.channels
        self.layers = nn.ModuleList(mods)
        n_feat = c_in * self.bands
        self.readout = (MeanLinearReadout(n_feat, config.n_classes) if config.readout == "mean-linear" else
                        LIReadout(n_feat, config.n_classes, reduce="max", dv=config.readout_dv_init))
        self.register_buffer("input_mean", torch.zeros(self.in_channels, self.bands))
        self.register_buffer("input_std", torch.ones(self.in_channels, self.bands))

    @torch.no_grad()
    def set_input_norm(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Standardise inputs with these [C_in, F] statistics (the training split's)."""
        self.input_mean.copy_(mean.reshape(self.in_channels, self.bands))
        self.input_std.copy_(std.reshape(self.in_channels, self.bands).clamp_min(1e-6))

    def forward(self, x: torch.Tensor, return_spikes: bool = False):
        if x.ndim == 3:
            x = x.reshape(x.shape[0], x.shape[1], self.in_channels, self.bands)
        h = (x - self.input_mean) / self.input_std
        spikes = []
        for layer in self.layers:
            h, _ = layer(h)
            spikes.append(h)
        logits = self.readout(h.flatten(2))
        return (logits, spikes) if return_spikes else logits

    @torch.no_grad()
    def constrain_(self) -> None:
        for layer in self.layers:
            layer.neuron.constrain_()

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
