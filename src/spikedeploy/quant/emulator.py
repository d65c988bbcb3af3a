"""Bit-exact emulator of a :class:`~spikedeploy.quant.loihi_network.LoihiNetwork` in PyTorch.

It computes exactly what lava-nc 0.10 computes with ``Loihi2SimCfg(select_tag=
"fixed_pt")`` (``PyDenseModelBitAcc`` + ``PyLifModelBitAcc`` / ``PyLifResetModelBitAcc``),
batched over samples and neurons (int64 tensors, CPU or CUDA), looping over time.
Every width and shift comes from the network's chip profile through
``spikedeploy.quant.fixed_point``.

Two entry points, one step function:

* :func:`emulate` -- each sample on its own, from zero state, **aligned**: step ``t``
  of every layer is that layer's response to input step ``t``
  (``s_k[t] = LIF(W_k s_{k-1}[t] + W_rec s_k[t-1])``). This is the model the
  quantiser calibrates and the metrics count.
* :func:`emulate_stream` -- Lava's own timing, step for step: a stream of samples
  back to back (:class:`StreamLayout`), each Dense delaying by one step, each layer
  reset by ``LIFReset`` at an offset that follows its depth, and the recurrent
  Dense carrying the previous step's spikes across the reset exactly as Lava does.
  It equals a Lava run spike for spike; :meth:`StreamResult.per_sample` cuts it into
  aligned per-sample windows, which equal :func:`emulate` whenever
  :attr:`StreamResult.carry_spikes` is all zero (the stream rule, see
  ``docs/fixed-point.md``).

The readout's voltage, the spikes of every layer (and optionally ``u``) are
recorded; spike counts per layer and step are what SynOps counting needs.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import ConfigError, QuantizationError, ShapeMismatchError, VerificationError
from ..hardware import FixedPointSpec
from . import fixed_point as fx
from .loihi_network import LoihiNetwork

#: What can be recorded: spikes, voltage, current.
RECORDABLE = ("s", "v", "u")
#: What to do when a_in leaves its 16 bits or a non-spiking readout crosses its threshold.
OVERFLOW_POLICIES = ("raise", "warn", "ignore")
_EXACT_F32 = 1 << 24   # float32 adds integers exactly below 2^24


# --- the stream layout ----------------------------------------------------------------

@dataclass(frozen=True)
class StreamLayout:
    """How ``n_samples`` samples of ``sample_steps`` steps run back to back in one Lava run.

    Sample ``i`` occupies input steps ``[i*R, i*R + T)`` of the stream (0-based;
    Lava's ``time_step`` is this index + 1), followed by ``gap_steps`` zero steps,
    ``R = T + gap_steps``. Layer ``k`` (1-based depth) sees input step ``j`` at stream
    step ``j + k``, so it is reset (u = v = 0 before its update) at stream steps
    ``i*R + k``: ``LIFReset(reset_interval=R, reset_offset=(k + 1) % R)``. The stream
    runs ``n_samples * R + depth`` steps so that the last layer finishes the last sample.
    """

    sample_steps: int
    n_samples: int
    depth: int
    gap_steps: int = 0

    def __post_init__(self) -> None:
        for name in ("sample_steps", "n_samples", "depth"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"stream {name}", f"must be >= 1, got {getattr(self, name)}")
        if int(self.gap_steps) < 0:
            raise ConfigError("stream gap_steps", f"must be >= 0, got {self.gap_steps}")

    @property
    def reset_interval(self) -> int:
        return self.sample_steps + self.gap_steps

    @property
    def total_steps(self) -> int:
        return self.n_samples * self.reset_interval + self.depth

    def reset_offset(self, depth: int) -> int:
        """Lava's ``LIFReset`` ``reset_offset`` for the layer at ``depth`` (1-based)."""
        return (depth + 1) % self.reset_interval

    def resets_at(self, step: int, depth: int) -> bool:
        """True when the layer at ``depth`` is reset at 0-based stream ``step``."""
        return (step + 1) % self.reset_interval == self.reset_offset(depth)

    def window(self, depth: int, sample: int) -> slice:
        """Stream steps holding the layer's aligned response to ``sample``."""
        start = sample * self.reset_interval + depth
        return slice(start, start + self.sample_steps)

    def cut(self, trace, depth: int):
        """A layer's stream trace ``[B, S, ...]`` (numpy or torch) -> its aligned per-sample windows
        ``[B * N, T, ...]``, sample order b * N + i."""
        parts = [trace[:, self.window(depth, i)] for i in range(self.n_samples)]
        wins = torch.stack(parts, dim=1) if isinstance(trace, torch.Tensor) else np.stack(parts, axis=1)
        return wins.reshape((-1,) + tuple(wins.shape[2:]))

    def pack(self, samples):
        """``[..., N, T, in]`` samples -> ``[..., total_steps, in]`` stream (gaps and tail zero)."""
        is_t = isinstance(samples, torch.Tensor)
        shape = tuple(samples.shape)
        if len(shape) < 3 or shape[-3:-1] != (self.n_samples, self.sample_steps):
            raise ShapeMismatchError("stream samples", f"[..., {self.n_samples}, {self.sample_steps}, in]", shape)
        lead, n_in = shape[:-3], shape[-1]
        R = self.reset_interval
        if is_t:
            padded = torch.zeros(lead + (self.n_samples, R, n_in), dtype=samples.dtype, device=samples.device)
            padded[..., :self.sample_steps, :] = samples
            flat = padded.reshape(lead + (self.n_samples * R, n_in))
            tail = torch.zeros(lead + (self.depth, n_in), dtype=samples.dtype, device=samples.device)
            return torch.cat([flat, tail], dim=-2)
        samples = np.asarray(samples)
        padded = np.zeros(lead + (self.n_samples, R, n_in), dtype=samples.dtype)
        padded[..., :self.sample_steps, :] = samples
        flat = padded.reshape(lead + (self.n_samples * R, n_in))
        return np.concatenate([flat, np.zeros(lead + (self.depth, n_in), dtype=samples.dtype)], axis=-2)


def pack_samples(samples: np.ndarray, replicas: int, depth: int, gap_steps: int) -> tuple[np.ndarray, StreamLayout]:
    """``[N, T, in]`` samples -> (``[replicas, S, in]`` stream, layout); replica b gets a contiguous
    chunk (samples ``b n .. b n + n - 1``, n = ceil(N / replicas)); missing samples at the end
    are zero input."""
    samples = np.asarray(samples)
    if samples.ndim != 3:
        raise ShapeMismatchError("samples", "[N, T, in]", samples.shape)
    if replicas < 1:
        raise ConfigError("replicas", f"must be >= 1, got {replicas}")
    N, T, n_in = samples.shape
    per = math.ceil(N / replicas)
    padded = np.zeros((replicas * per, T, n_in), dtype=np.uint8 if samples.dtype == np.uint8 else np.int32)
    padded[:N] = samples
    layout = StreamLayout(sample_steps=T, n_samples=per, depth=depth, gap_steps=gap_steps)
    return layout.pack(padded.reshape(replicas, per, T, n_in)), layout


# --- results --------------------------------------------------------------------------

@dataclass(frozen=True)
class EmulatorResult:
    """Aligned per-sample traces: every tensor is ``[B, T, n]``, step t = response to input step t.

    ``spikes`` (int8, 0/1) for every layer; ``voltage`` / ``current`` (int64) for the
    recorded kinds; ``overflow[layer]`` counts ``a_in`` values outside 16 bits and
    spikes of a non-spiking readout (both zero on a well-quantised network).
    """

    layer_names: tuple[str, ...]
    spikes: Mapping[str, torch.Tensor]
    voltage: Mapping[str, torch.Tensor] = field(default_factory=dict)
    current: Mapping[str, torch.Tensor] = field(default_factory=dict)
    overflow: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    @property
    def readout(self) -> torch.Tensor:
        """Voltage of the last layer, ``[B, T, n_out]`` (needs ``"v"`` recorded)."""
        name = self.layer_names[-1]
        if name not in self.voltage:
            raise ConfigError("record", "the readout voltage was not recorded", valid=RECORDABLE,
                              remedy='emulate(..., record=("s", "v"))')
        return self.voltage[name]

    def spike_counts(self) -> dict[str, torch.Tensor]:
        """Spikes per layer, sample and step: ``{layer: [B, T]}`` (int64) -- what SynOps need."""
        return {k: s.sum(dim=-1, dtype=torch.int64) for k, s in self.spikes.items()}

    def firing_rates(self) -> dict[str, float]:
        """Mean spikes per neuron per step, per layer."""
        return {k: float(s.float().mean()) for k, s in self.spikes.items()}


@dataclass(frozen=True)
class StreamResult:
    """Raw traces on Lava's step grid: every tensor is ``[B, S, n]`` (S = layout.total_steps).

    ``carry_spikes[b, i, k]``: spikes layer k emitted on the step before its reset
    for sample i of stream b, which its recurrent Dense delivers into the reset step,
    plus, for a delayed layer, its source's spikes still held by a delayed tap at the
    reset (those of the last ``max(delays)`` steps before it; zero for other layers).
    When all are zero the per-sample windows equal independent runs (:func:`emulate`).
    """

    layout: StreamLayout
    layer_names: tuple[str, ...]
    spikes: Mapping[str, torch.Tensor]
    voltage: Mapping[str, torch.Tensor]
    current: Mapping[str, torch.Tensor]
    carry_spikes: torch.Tensor
    overflow: Mapping[str, Mapping[str, int]]

    @property
    def independent(self) -> bool:
        """True when no recurrent or delayed activation crossed a sample boundary."""
        return int(self.carry_spikes.sum()) == 0

    def per_sample(self) -> EmulatorResult:
        """Aligned per-sample windows, ``[B * N, T, n]``; sample order b * N + i."""
        lay = self.layout

        def cut(traces: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return {name: lay.cut(traces[name], depth)
                    for depth, name in enumerate(self.layer_names, start=1) if name in traces}

        return EmulatorResult(self.layer_names, cut(self.spikes), cut(self.voltage), cut(self.current),
                              self.overflow)


# --- the step ---------------------------------------------------------------------------

@dataclass
class _Layer:
    name: str
    n: int
    w_taps: list           # feed-forward, per tap: (delay, [(cols LongTensor or None = all, W_k[:, cols]^T float)])
    w_exp: int
    r_parts: list | None   # recurrent, likewise (None: not recurrent)
    r_exp: int
    du: torch.Tensor
    dv: torch.Tensor
    vth_eff: torch.Tensor
    bias: torch.Tensor
    spiking: bool

    @property
    def recurrent(self) -> bool:
        return self.r_parts is not None

    @property
    def max_delay(self) -> int:
        return max(d for d, _ in self.w_taps)


def _matmul_dtype(w: np.ndarray, device: torch.device, in_max: int = 1) -> torch.dtype:
    bound = int(np.abs(w.astype(np.int64)).sum(axis=1).max()) * in_max if w.size else 0
    tf32 = device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32
    return torch.float32 if bound < _EXACT_F32 and not tf32 else torch.float64


def source_parts(net: LoihiNetwork, index: int, recurrent: bool = False) -> list[np.ndarray | None]:
    """How layer ``index``'s synaptic input is summed: a list of column groups (None: all columns).

    Lava sums each connection process separately and applies ``weight_exp`` to each
    partial sum; the builder makes one connection per source port (the input, or
    one decay group of the source layer). A left shift (exponent >= 0) is linear,
    so the parts do not matter and one part is returned; with a negative exponent
    each part is floored on its own, and the parts are the source layer's decay groups.
    """
    layer = net.layers[index]
    exp = layer.rec_exp if recurrent else layer.weight_exp
    source = layer if recurrent else (net.layers[index - 1] if index > 0 else None)
    if exp >= 0 or source is None:
        return [None]
    groups = source.decay_groups()
    return [None] if len(groups) == 1 else [g.neurons for g in groups]


def _prepare(net: LoihiNetwork, device: torch.device, spec: FixedPointSpec) -> list[_Layer]:
    layers = []
    in_max = max(abs(v) for v in net.input_range)

    def parts(weight: np.ndarray, cols_list, scale: int = 1) -> list:
        out = []
        for cols in cols_list:
            sub = weight if cols is None else weight[:, cols]
            wt = torch.as_tensor(sub.T.astype(np.float64), device=device).to(_matmul_dtype(sub, device, scale))
            idx = None if cols is None else torch.as_tensor(np.array(cols), dtype=torch.long, device=device)
            out.append((idx, wt))
        return out

    for index, l in enumerate(net.layers):
        i64 = lambda a: torch.as_tensor(np.asarray(a, dtype=np.int64), device=device)  # noqa: E731
        r_parts = None
        if l.rec_weight is not None:
            r_parts = parts(l.rec_weight, source_parts(net, index, recurrent=True))
        cols = source_parts(net, index)
        layers.append(_Layer(
            name=l.name, n=l.n_out, w_taps=[(d, parts(w, cols, in_max if index == 0 else 1)) for d, w in l.taps()],
            w_exp=l.weight_exp,
            r_parts=r_parts, r_exp=l.rec_exp, du=i64(l.du), dv=i64(l.dv),
            vth_eff=fx.effective_threshold(i64(l.vth), spec),
            bias=fx.effective_bias(i64(l.bias_mant), l.bias_exp),
            spiking=l.spiking))
    return layers


def _dense(spikes: torch.Tensor, parts: list, exp: int) -> torch.Tensor:
    """Spikes [B, in] (binary, or graded payloads) through the weight parts: exact integer sums, Dense's
    exponent per part."""
    total = None
    for cols, wt in parts:
        x = spikes if cols is None else spikes[:, cols]
        acc = torch.matmul(x.to(wt.dtype), wt).round().to(torch.int64)
        acc = fx.scale_pow2(acc, exp)
        total = acc if total is None else total + acc
    return total


def _feed_forward(layer: _Layer, source: torch.Tensor, t: int) -> torch.Tensor:
    """The layer's feed-forward a_in at step ``t`` from its source's trace [B, S, in]: each tap
    reads the source ``delay`` steps back (nothing before step 0), its partial sums scaled alone."""
    total = torch.zeros((source.shape[0], layer.n), dtype=torch.int64, device=source.device)
    for delay, parts in layer.w_taps:
        if t - delay >= 0:
            total = total + _dense(source[:, t - delay], parts, layer.w_exp)
    return total


def lif_step(u: torch.Tensor, v: torch.Tensor, a_in: torch.Tensor, du, dv, vth_eff, bias,
             spec: FixedPointSpec) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of Lava's bit-accurate LIF: returns the new (u, v, spikes).

    ``vth_eff = vth << 6`` and ``bias = bias_mant << bias_exp`` (precomputed).
    """
    u = fx.wrap_state(fx.current_decay(u, du, spec) + fx.activation_to_current(a_in, spec), spec.state_bits)
    v = fx.clip_symmetric(fx.voltage_decay(v, dv, spec) + u + bias, spec.state_bits)
    s = v > vth_eff
    v = torch.where(s, torch.zeros_like(v), v)
    return u, v, s


class _Overflow:
    def __init__(self, layers: Sequence[_Layer], spec: FixedPointSpec):
        self.spec = spec
        self.a_in = {l.name: 0 for l in layers}
        self.a_in_max = {l.name: 0 for l in layers}
        self.readout = {l.name: 0 for l in layers}

    def check(self, layer: _Layer, a_in: torch.Tensor, s: torch.Tensor) -> None:
        out = (a_in < self.spec.activation_min) | (a_in > self.spec.activation_max)
        n = int(out.sum())
        if n:
            self.a_in[layer.name] += n
            self.a_in_max[layer.name] = max(self.a_in_max[layer.name], int(a_in.abs().max()))
        if not layer.spiking:
            self.readout[layer.name] += int(s.sum())

    def report(self, policy: str) -> dict[str, dict[str, int]]:
        counts = {k: {"a_in": self.a_in[k], "readout_spikes": self.readout[k]} for k in self.a_in}
        problems = []
        for k in self.a_in:
            if self.a_in[k]:
                problems.append(QuantizationError(
                    k, "a_in", f"{self.a_in[k]} synaptic input(s) outside {self.spec.activation_bits} bits "
                               f"(largest magnitude {self.a_in_max[k]}); Lava's Python simulation keeps them, "
                               "the chip would not",
                    remedy="lower this layer's weight_exp or weights (and its threshold with them)"))
            if self.readout[k]:
                problems.append(QuantizationError(
                    k, "v", f"the non-spiking readout crossed its maximum threshold {self.readout[k]} time(s) "
                            "(its voltage saturated and was reset to 0)",
                    remedy="scale the readout's weights down (lower weight_exp)"))
        if problems and policy == "raise":
            raise problems[0]
        if problems and policy == "warn":
            for p in problems:
                warnings.warn(str(p), stacklevel=3)
        return counts


def _check_args(net: LoihiNetwork, spikes, record: Iterable[str], on_overflow: str, device):
    if not isinstance(net, LoihiNetwork):
        raise ConfigError("net", f"expected a LoihiNetwork, got {type(net).__name__}")
    record = tuple(record)
    for r in record:
        if r not in RECORDABLE:
            raise ConfigError("record", f"unknown trace {r!r}", valid=RECORDABLE)
    if on_overflow not in OVERFLOW_POLICIES:
        raise ConfigError("on_overflow", f"unknown policy {on_overflow!r}", valid=OVERFLOW_POLICIES)
    x = spikes if isinstance(spikes, torch.Tensor) else torch.as_tensor(np.asarray(spikes))
    if device is not None:
        x = x.to(device)
    if x.ndim != 3 or x.shape[-1] != net.input_size:
        raise ShapeMismatchError("input spikes", f"[B, T, {net.input_size}]", tuple(x.shape))
    if net.graded_input:
        lo, hi = net.input_range
        if x.is_floating_point() and x.numel() and not bool((x == x.round()).all()):
            raise ConfigError("input spikes", "graded payloads must be integers",
                              remedy="encode the input (spikedeploy.quant.graded_input.encode)")
        x = x.to(torch.int64)
        if x.numel() and not bool(((x >= lo) & (x <= hi)).all()):
            raise ConfigError("input spikes", f"graded payloads must lie in [{lo}, {hi}] ({net.input_bits} bits)",
                              remedy="encode the input with the network's input scale")
        return x.to(torch.int64), record
    if x.numel() and not bool(((x == 0) | (x == 1)).all()):
        raise ConfigError("input spikes", "values must be 0 or 1 (binary spikes)",
                          remedy="binarise the input (x > 0) or bin it into separate channels")
    return x.to(torch.uint8), record


# --- public API -------------------------------------------------------------------------

@torch.no_grad()
def emulate(net: LoihiNetwork, spikes, *, record: Iterable[str] = ("s", "v"),
            on_overflow: str = "raise", device: str | torch.device | None = None) -> EmulatorResult:
    """Run every sample of ``spikes`` ([B, T, in], 0/1) through ``net`` on its own, aligned.

    Each sample starts from u = v = 0 and no previous spikes; step t of every
    layer is its response to input step t (Lava's pipeline latency removed).
    ``record``: any of ``"s"`` (always recorded), ``"v"``, ``"u"``, for every layer.
    ``on_overflow``: ``"raise"`` (default), ``"warn"`` or ``"ignore"`` for a_in outside
    16 bits or a non-spiking readout crossing its threshold.
    """
    x, record = _check_args(net, spikes, record, on_overflow, device)
    spec = net.spec
    dev = x.device
    layers = _prepare(net, dev, spec)
    B, T, _ = x.shape
    ovf = _Overflow(layers, spec)
    zeros = lambda n: torch.zeros((B, n), dtype=torch.int64, device=dev)  # noqa: E731
    u = [zeros(l.n) for l in layers]
    v = [zeros(l.n) for l in layers]
    prev = [torch.zeros((B, l.n), dtype=torch.bool, device=dev) for l in layers]
    s_rec = {l.name: torch.zeros((B, T, l.n), dtype=torch.int8, device=dev) for l in layers}
    v_rec = {l.name: torch.zeros((B, T, l.n), dtype=torch.int64, device=dev) for l in layers} if "v" in record else {}
    u_rec = {l.name: torch.zeros((B, T, l.n), dtype=torch.int64, device=dev) for l in layers} if "u" in record else {}
    for t in range(T):
        for k, l in enumerate(layers):
            a_in = _feed_forward(l, x if k == 0 else s_rec[layers[k - 1].name], t)
            if l.recurrent:
                a_in = a_in + _dense(prev[k], l.r_parts, l.r_exp)
            u[k], v[k], s = lif_step(u[k], v[k], a_in, l.du, l.dv, l.vth_eff, l.bias, spec)
            ovf.check(l, a_in, s)
            prev[k] = s
            s_rec[l.name][:, t] = s
            if v_rec:
                v_rec[l.name][:, t] = v[k]
            if u_rec:
                u_rec[l.name][:, t] = u[k]
    counts = ovf.report(on_overflow)
    return EmulatorResult(net.layer_names, s_rec, v_rec, u_rec, counts)


@torch.no_grad()
def emulate_stream(net: LoihiNetwork, stream, layout: StreamLayout, *, record: Iterable[str] = ("s", "v"),
                   on_overflow: str = "raise", device: str | torch.device | None = None) -> StreamResult:
    """Run ``stream`` ([B, S, in], 0/1; B independent streams) exactly as Lava runs it.

    ``layout`` says where the samples sit and when each layer resets; build the
    stream with :meth:`StreamLayout.pack`. Dense outputs lag one step, resets follow
    the depth, and the recurrent Dense carries the spikes of the step before a
    reset into the reset step (counted in ``carry_spikes``), all as in lava-nc 0.10.
    """
    x, record = _check_args(net, stream, record, on_overflow, device)
    if layout.depth != net.latency:
        raise ShapeMismatchError("stream layout depth", net.latency, layout.depth)
    B, S, _ = x.shape
    if S != layout.total_steps:
        raise ShapeMismatchError("stream length", layout.total_steps, S,
                                 remedy="build the stream with StreamLayout.pack")
    spec = net.spec
    dev = x.device
    layers = _prepare(net, dev, spec)
    L = len(layers)
    ovf = _Overflow(layers, spec)
    zeros = lambda n: torch.zeros((B, n), dtype=torch.int64, device=dev)  # noqa: E731
    u = [zeros(l.n) for l in layers]
    v = [zeros(l.n) for l in layers]
    rec_buf = [zeros(l.n) for l in layers]     # the recurrent Dense's a_buff: accumulated on the previous step
    prev = [torch.zeros((B, l.n), dtype=torch.bool, device=dev) for l in layers]
    carry = torch.zeros((B, layout.n_samples, L), dtype=torch.int64, device=dev)
    s_rec = {l.name: torch.zeros((B, S, l.n), dtype=torch.int8, device=dev) for l in layers}
    v_rec = {l.name: torch.zeros((B, S, l.n), dtype=torch.int64, device=dev) for l in layers} if "v" in record else {}
    u_rec = {l.name: torch.zeros((B, S, l.n), dtype=torch.int64, device=dev) for l in layers} if "u" in record else {}
    R = layout.reset_interval
    for step in range(S):
        now = []
        for k, l in enumerate(layers):
            depth = k + 1         # Dense's a_buff: what it accumulated on the previous step (+ the tap's delay)
            source = x if k == 0 else s_rec[layers[k - 1].name]
            a_in = _feed_forward(l, source, step - 1) + rec_buf[k]
            if layout.resets_at(step, depth):
                u[k].zero_()
                v[k].zero_()
                sample = (step - depth) // R
                if l.recurrent and 0 <= sample < layout.n_samples:
                    carry[:, sample, k] = prev[k].sum(dim=1)
                if l.max_delay and 0 <= sample < layout.n_samples:   # still in a delayed tap: sent d >= 1 steps ago
                    held = source[:, max(step - 1 - l.max_delay, 0):max(step - 1, 0)]
                    carry[:, sample, k] += held.sum(dim=(1, 2), dtype=torch.int64)
            u[k], v[k], s = lif_step(u[k], v[k], a_in, l.du, l.dv, l.vth_eff, l.bias, spec)
            ovf.check(l, a_in, s)
            now.append(s)
            s_rec[l.name][:, step] = s
            if v_rec:
                v_rec[l.name][:, step] = v[k]
            if u_rec:
                u_rec[l.name][:, step] = u[k]
        for k, l in enumerate(layers):
            if l.recurrent:
                rec_buf[k] = _dense(now[k], l.r_parts, l.r_exp)
            prev[k] = now[k]
    counts = ovf.report(on_overflow)
    return StreamResult(layout, net.layer_names, s_rec, v_rec, u_rec, carry, counts)


@torch.no_grad()

def stream_reference(net: LoihiNetwork, samples: np.ndarray, replicas: int, gap_steps: int, *,
                     record: tuple[str, ...] = ("s", "v"), device=None) -> EmulatorResult:
    """The exact reference for a Lava run with these settings, per sample: the samples packed
    as the Lava runner packs them (:func:`pack_samples`), replayed in :func:`emulate_stream` and
    cut into aligned windows ``[N, T, n]`` (padding samples dropped). Equal to
    ``emulate(net, samples)`` when no sample received carried spikes; always equal to the
    Lava run's ``per_sample()``."""
    samples = np.asarray(samples)
    stream, layout = pack_samples(samples, int(replicas), net.latency, int(gap_steps))
    res = emulate_stream(net, stream, layout, record=record, on_overflow="ignore", device=device).per_sample()
    n = samples.shape[0]
    cut = lambda d: {k: v[:n] for k, v in d.items()}  # noqa: E731
    return EmulatorResult(res.layer_names, cut(res.spikes), cut(res.voltage), cut(res.current), res.overflow)


def quiet_gap(net: LoihiNetwork, samples, *, max_gap: int | None = None,
              device: str | torch.device | None = None) -> int | None:
    """The smallest gap G (0 .. ``max_gap``, default T) that makes a Lava stream of these
    samples equal to independent per-sample runs; None if there is none.

    A reset clears u and v, not what the connections hold: the recurrent Dense carries the
    spikes of the step before it, and a delayed tap (``spikedeploy.delays``) the source's
    spikes of its last ``d`` steps. So G works when every recurrent layer is silent on the
    last step of each sample's window, T + G - 1, and the source of every delayed layer on
    its last ``max(delays)`` steps, with zero input after step T, and when nothing fires
    during the stream's first steps that a reset would not clear (bias-driven, from zero
    state). Checked on these samples (including the last, which is conservative) with one
    aligned emulator run.
    """
    x, _ = _check_args(net, samples, ("s",), "ignore", device)
    B, T, n_in = x.shape
    max_gap = T if max_gap is None else int(max_gap)
    if max_gap < 0:
        raise ConfigError("max_gap", f"must be >= 0, got {max_gap}")
    # (the trace that must be silent, how many steps before the window's end)
    watch = [(l.name, 1) for l in net.layers if l.recurrent]
    watch += [(None if i == 0 else net.layers[i - 1].name, max(l.delays)) for i, l in enumerate(net.layers)
              if l.delayed]
    if not watch:
        return 0
    padded = torch.cat([x, torch.zeros((B, max_gap, n_in), dtype=x.dtype, device=x.device)], dim=1)
    res = emulate(net, padded, record=("s",), on_overflow="ignore")
    active = {name: ((padded if name is None else res.spikes[name]) != 0).sum(dim=(0, 2)) for name, _ in watch}
    for gap in range(max_gap + 1):
        end = T + gap
        if all(int(active[name][max(end - span, 0):end].sum()) == 0 for name, span in watch) \
                and not _preroll_carries(net, T, gap, x.device):
            return gap
    return None


def _preroll_carries(net: LoihiNetwork, sample_steps: int, gap: int, device) -> bool:
    """True if something fired before a reset that reaches the first sample's window (zero
    state, bias-driven): a recurrent layer's spikes through its recurrent Dense, or the spikes
    of a delayed layer's source before the source's own first reset (step ``depth``)."""
    lay = StreamLayout(sample_steps=sample_steps, n_samples=1, depth=net.latency, gap_steps=gap)
    zero = torch.zeros((1, lay.total_steps, net.input_size), dtype=torch.uint8, device=device)
    first = emulate_stream(net, zero, lay, record=("s",), on_overflow="ignore")
    early = any(bool(first.spikes[net.layers[i - 1].name][:, :i].any())
                for i, l in enumerate(net.layers) if l.delayed and i > 0)
    return early or bool(int(first.carry_spikes.sum()))


def first_difference(expected, got) -> tuple[int, ...] | None:
    """Index of the first element where two equally shaped arrays/tensors differ, or None."""
    a = expected.cpu().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    b = got.cpu().numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
    if a.shape != b.shape:
        raise ShapeMismatchError("compared traces", a.shape, b.shape)
    diff = np.argwhere(a != b)
    return None if diff.size == 0 else tuple(int(i) for i in diff[0])


def verify_identical(layer: str, expected, got, *, layout: StreamLayout | None = None,
                     depth: int | None = None) -> None:
    """Raise VerificationError at the first element where two traces differ.

    Traces are ``[B, T, n]`` (batch row, step, neuron). With ``layout`` and the
    layer's ``depth`` the traces are read as stream traces ``[B, S, n]`` and the
    error names the sample (b * N + i) and the step inside its window.
    """
    idx = first_difference(expected, got)
    if idx is None:
        return
    if len(idx) != 3:
        raise ShapeMismatchError("compared traces", "[B, T, n]", np.shape(expected))
    a, b = (t[idx].item() if hasattr(t[idx], "item") else t[idx] for t in (expected, got))
    row, step, neuron = idx
    sample = row
    if layout is not None and depth is not None:
        rel = step - depth
        sample = row * layout.n_samples + rel // layout.reset_interval if rel >= 0 else row
        step = rel % layout.reset_interval if rel >= 0 else step
    raise VerificationError(layer, neuron, step, a, b, sample=sample)


# --- reading the readout ---------------------------------------------------------------

def reduce_readout(mode: str, v: torch.Tensor) -> torch.Tensor:
    """The readout's values per sample from its voltage trace ``v`` [B, T, n]: the last step
    (``"last"``), the last step / T (``"mean"``: the integrator's sum over time), or the
    maximum over time (``"max"``)."""
    if mode == "last":
        return v[:, -1]
    if mode == "mean":
        return v[:, -1] / v.shape[1]
    return v.max(dim=1).values


def emulator_logits(net: LoihiNetwork, readout_voltage: torch.Tensor) -> torch.Tensor:
    """Float logits [B, n] from the readout's integer voltage trace [B, T, n] (emulator or Lava),
    using the readout mode and scale the quantiser stored in ``net.metadata``."""
    meta = net.metadata
    if "readout_scale" not in meta or "readout" not in meta:
        raise ConfigError("net.metadata", "no readout scale: this LoihiNetwork was not made by the quantiser (spikedeploy.quant.ptq)",
                          remedy="read the readout voltage directly (argmax is scale-free)")
    v = torch.as_tensor(readout_voltage).to(torch.float64)
    return reduce_readout(str(meta["readout"]), v) / float(meta["readout_scale"])


@torch.no_grad()
def emulator_accuracy(net: LoihiNetwork, x: Any, y: Any, *, batch_size: int = 256,
                      on_overflow: str = "ignore", binarize: bool = False,
                      progress: bool = False) -> dict[str, Any]:
    """Accuracy of the integer network (bit-exact emulator) on inputs ``x`` [N, T, in], labels ``y``.

    Binary input: spike counts > 1 are refused (ConfigError) unless ``binarize`` (then clipped
    to 1). Graded input (``net.input_bits``): the payloads as they are.
    Returns ``{"acc", "n", "rates" (per layer), "overflow" (summed per layer)}``.
    """
    x = torch.as_tensor(x)
    y = torch.as_tensor(np.asarray(y)).to(torch.int64)
    if not net.graded_input and not binarize and bool((x > 1).any()):
        raise ConfigError("inputs", "hold spike counts > 1; Loihi's input spikes are binary",
                          remedy="bin the data with binary = true, or pass binarize=True to clip counts to 1")
    correct, spikes, steps = 0, {n: 0.0 for n in net.layer_names}, 0
    overflow = {n: {"a_in": 0, "readout_spikes": 0} for n in net.layer_names}
    for b0 in tqdm(range(0, x.shape[0], batch_size), desc="emulator", unit="batch", disable=not progress,
                   leave=False):
        xs = x[b0:b0 + batch_size] if net.graded_input else (x[b0:b0 + batch_size] > 0).to(torch.uint8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore" if on_overflow == "ignore" else "default")
            res = emulate(net, xs, record=("s", "v"), on_overflow=on_overflow)
        logits = emulator_logits(net, res.readout)
        correct += int((logits.argmax(1) == y[b0:b0 + batch_size]).sum())
        for n in net.layer_names:
            spikes[n] += float(res.spikes[n].float().mean()) * xs.shape[0]
            for k in overflow[n]:
                overflow[n][k] += int(res.overflow[n][k])
        steps += xs.shape[0]
    n = int(x.shape[0])
    return {"acc": correct / max(n, 1), "n": n, "rates": {k: v / max(n, 1) for k, v in spikes.items()},
            "overflow": overflow}
