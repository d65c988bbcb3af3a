"""Bit-exact emulator of a :class:`~spikedeploy.quant.loihi2_network.Loihi2Network`, on Lava's timing.

One function runs streams (:func:`emulate_loihi2_stream`, as
:func:`spikedeploy.lava_backend.loihi2.run_loihi2` plays them in Lava: each Dense one
step late, each layer reset at the offset of its depth); :func:`emulate_loihi2` runs
every sample alone as a stream of one sample and cuts out its aligned window. Since the
neurons drop their recurrent input at a reset (:mod:`spikedeploy.quant.pr_graded`), the two
agree for streams without gaps too (tested). Each layer's connections and step are its
own (``layer.connections()``, ``layer.step``: :mod:`.pr_graded`, :mod:`.gpn_graded`), the
ones the Lava process models call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple

import numpy as np
import torch

from ..errors import ConfigError, ShapeMismatchError
from .emulator import StreamLayout, _dense, lif_step, reduce_readout
from . import fixed_point as fx
from .loihi2_network import Loihi2Network


@dataclass(frozen=True)
class GradedRun:
    """Traces on Lava's step grid, ``[B, S, n]``: every hidden layer's outputs (``payloads``, int8:
    a pr-v2 layer's graded payloads, a GPN layer's spikes), a GPN layer's graded broadcast of
    its state (``broadcast``, int16) and the readout's voltage (int64); ``overflow[layer]``:
    pre-activations outside the chip's activation bits (Lava's simulation keeps them, the chip
    would not; zero when well quantised)."""

    layout: StreamLayout
    layer_names: tuple[str, ...]
    payloads: Mapping[str, torch.Tensor]
    readout_voltage: torch.Tensor
    overflow: Mapping[str, int]
    broadcast: Mapping[str, torch.Tensor] = field(default_factory=dict)

    def per_sample(self) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """``(payloads per layer, readout voltage)``, each ``[B * N, T, n]``."""
        cut = self.layout.cut
        pay = {name: cut(self.payloads[name], d) for d, name in enumerate(self.layer_names[:-1], start=1)}
        return pay, cut(self.readout_voltage, len(self.layer_names))


def _parts(w: np.ndarray, device) -> list:
    return [(None, torch.as_tensor(w.T.astype(np.float64), device=device))]


def _check_input(net: Loihi2Network, x) -> torch.Tensor:
    x = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if x.ndim != 3 or x.shape[-1] != net.input_size:
        raise ShapeMismatchError("input spikes", f"[B, T, {net.input_size}]", tuple(x.shape))
    if x.numel() and not bool(((x == 0) | (x == 1)).all()):
        raise ConfigError("input spikes", "values must be 0 or 1 (binary spikes)",
                          remedy="binarise the input (x > 0)")
    return x.to(torch.int64)


class _Hidden:
    """One hidden layer in the emulator: its connections as exact matmul parts, its state."""

    def __init__(self, layer: Any, zeros, dev):
        self.layer = layer
        self.conns = [(target, _parts(w, dev), exp, rec) for target, w, exp, rec in layer.connections()]
        self.biases = {t: torch.tensor(np.asarray(b, dtype=np.int64), device=dev) for t, b in layer.biases().items()}
        self.zeros = zeros
        self.state = layer.initial_state(zeros)

    def inputs(self, src: torch.Tensor | None, own: torch.Tensor | None, reset: bool) -> dict[str, torch.Tensor]:
        """Each target's summed Dense outputs: the source's and the layer's own values of the step before
        (None at the stream's first step); the recurrent ones dropped at a reset."""
        pre = {t: self.zeros(self.layer.n_out) for t in self.biases}
        for target, parts, exp, rec in self.conns:
            prev = own if rec else src
            if prev is not None and not (rec and reset):
                pre[target] = pre[target] + _dense(prev, parts, exp)
        return pre

    def overflow(self, pre: Mapping[str, torch.Tensor], lo: int, hi: int) -> int:
        return sum(int(((pre[t] + b < lo) | (pre[t] + b > hi)).sum()) for t, b in self.biases.items())


@torch.no_grad()
def emulate_loihi2_stream(net: Loihi2Network, stream, layout: StreamLayout, *,
                          device: str | torch.device | None = None) -> GradedRun:
    """Run ``stream`` ([B, S, in], 0/1) through ``net`` exactly as Lava runs it (module docstring)."""
    x = _check_input(net, stream)
    if device is not None:
        x = x.to(device)
    if layout.depth != net.latency or x.shape[1] != layout.total_steps:
        raise ShapeMismatchError("stream layout (depth, steps)", (net.latency, layout.total_steps),
                                 (layout.depth, int(x.shape[1])), remedy="build the stream with StreamLayout.pack")
    spec, dev = net.spec, x.device
    B, S, _ = x.shape
    lo, hi = fx.int_range(spec.activation_bits)
    zeros = lambda n: torch.zeros((B, n), dtype=torch.int64, device=dev)  # noqa: E731
    hidden = [_Hidden(l, zeros, dev) for l in net.hidden]
    out = [torch.zeros((B, S, l.n_out), dtype=torch.int64, device=dev) for l in net.hidden]
    back = [torch.zeros((B, S, l.n_out), dtype=torch.int64, device=dev) for l in net.hidden]
    r = net.readout
    i64 = lambda a: torch.tensor(np.asarray(a, dtype=np.int64), device=dev)  # noqa: E731
    r_parts, r_bias = _parts(r.weight, dev), fx.effective_bias(i64(r.bias_mant), r.bias_exp)
    r_du, r_dv, r_vth = i64(r.du), i64(r.dv), fx.effective_threshold(i64(r.vth), spec)
    ru, rv = zeros(r.n_out), zeros(r.n_out)
    v_rec = torch.zeros((B, S, r.n_out), dtype=torch.int64, device=dev)
    overflow = {name: 0 for name in net.layer_names}
    for step in range(S):
        for k, h in enumerate(hidden):
            reset = layout.resets_at(step, k + 1)
            src = None if step == 0 else (x if k == 0 else out[k - 1])[:, step - 1]
            pre = h.inputs(src, None if step == 0 else back[k][:, step - 1], reset)
            if reset:
                h.state = h.layer.initial_state(zeros)
            overflow[h.layer.name] += h.overflow(pre, lo, hi)
            h.state, o, b = h.layer.step(h.state, pre, spec.state_bits)
            out[k][:, step], back[k][:, step] = o, b
        a_in = _dense(out[-1][:, step - 1], r_parts, r.weight_exp) if step > 0 else zeros(r.n_out)
        if layout.resets_at(step, net.latency):
            ru, rv = zeros(r.n_out), zeros(r.n_out)
        overflow[r.name] += int(((a_in < lo) | (a_in > hi)).sum())
        ru, rv, _ = lif_step(ru, rv, a_in, r_du, r_dv, r_vth, r_bias, spec)
        v_rec[:, step] = rv
    payloads = {l.name: o.to(torch.int8) for l, o in zip(net.hidden, out)}
    broadcast = {l.name: b.to(torch.int16) for l, b in zip(net.hidden, back) if l.kind == "gpn"}
    return GradedRun(layout, net.layer_names, payloads, v_rec, overflow, broadcast)


class Loihi2Trace(NamedTuple):
    """Aligned per-sample traces ``[B, T, n]``: each hidden layer's outputs, the readout's voltage,
    the overflow counts, and each GPN layer's graded broadcast of its state."""

    payloads: dict[str, torch.Tensor]
    voltage: torch.Tensor
    overflow: dict[str, int]
    broadcast: dict[str, torch.Tensor]


def emulate_loihi2(net: Loihi2Network, x, *, device: str | torch.device | None = None) -> Loihi2Trace:
    """Every sample of ``x`` ([B, T, in], 0/1) alone from zero state, step t the response to input
    step t (:class:`Loihi2Trace`)."""
    x = _check_input(net, x)
    layout = StreamLayout(sample_steps=int(x.shape[1]), n_samples=1, depth=net.latency)
    run = emulate_loihi2_stream(net, layout.pack(x[:, None]), layout, device=device)
    payloads, voltage = run.per_sample()
    depth = {name: d for d, name in enumerate(net.layer_names, start=1)}
    broadcast = {name: layout.cut(b, depth[name]) for name, b in run.broadcast.items()}
    return Loihi2Trace(payloads, voltage, dict(run.overflow), broadcast)


def graded_logits(net: Loihi2Network, readout_voltage: torch.Tensor) -> torch.Tensor:
    """Float logits from the readout's integer voltage trace, with the readout mode and scale the
    fold stored in ``net.metadata``."""
    meta = net.metadata
    v = torch.as_tensor(readout_voltage).to(torch.float64)
    return reduce_readout(str(meta.get("readout", "max")), v) / float(meta.get("readout_scale", 1.0))


def graded_accuracy(net: Loihi2Network, x, y, *, batch_size: int = 128, binarize: bool = False) -> dict[str, Any]:
    """Accuracy of the integer network on ``x`` [N, T, in], labels ``y``; mean non-zero outputs per
    neuron and step per layer (``rates``) and the overflow counts. The input spikes are binary:
    counts > 1 are refused (ConfigError) unless ``binarize`` (then clipped to 1)."""
    x, y = torch.as_tensor(x), torch.as_tensor(np.asarray(y)).to(torch.int64)
    if not binarize and bool((x > 1).any()):
        raise ConfigError("inputs", "hold spike counts > 1; the network's input spikes are binary",
                          remedy="bin the data with binary = true, or pass binarize=True to clip counts to 1")
    correct, n = 0, int(x.shape[0])
    rates = {l.name: 0.0 for l in net.hidden}
    overflow = {name: 0 for name in net.layer_names}
    for b0 in range(0, n, batch_size):
        xb = (x[b0:b0 + batch_size] > 0).to(torch.int64)
        pay, volt, ovf, _ = emulate_loihi2(net, xb)
        correct += int((graded_logits(net, volt).argmax(1) == y[b0:b0 + batch_size]).sum())
        for name, p in pay.items():
            rates[name] += float((p != 0).float().mean()) * xb.shape[0]
        for name, c in ovf.items():
            overflow[name] += c
    return {"acc": correct / max(n, 1), "n": n, "rates": {k: v / max(n, 1) for k, v in rates.items()},
            "overflow": overflow}
