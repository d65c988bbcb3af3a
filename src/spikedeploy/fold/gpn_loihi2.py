"""A GPN onto Loihi 2 (``fold --target loihi2``): its gates deployed, not folded away.

The Loihi 1 fold (:mod:`.gpn`) replaces each gate by a per-neuron constant. On Loihi 2 the
layer becomes a :class:`~spikedeploy.quant.gpn_graded.GpnGradedLayer`: the neuron computes
its four gates every step from a graded broadcast of its state and from the input spikes
(module docstring there). The gates must be functions fixed point computes: the
hardware-friendly GPN (``gpn_gates = "hard"``, preset ``gpn-hw``) has them; a GPN trained
with the paper's sigmoid and tanh runs with hard ones in their place (the report gives what
that costs on its own: :func:`hard_gate_gpn_logits`). Per layer, with ``P`` the state's
fraction bits (1.0 = ``2^P``) and every gate pre-activation in units of ``2^-(G-2)`` of ``a``
(``Q<G>`` of ``a / 4`` for the hard sigmoids, ``Q<G-2>`` of ``a`` for the hard tanh: one gain
``A = 2^(G-2)``)::

    W_in' = 2^P W_in,  c_x = 2^P c                                (the current, V units)
    M_g   = A W_gx[g] W_in,  b_g = A (bias_g + W_gx[g] c)         (the gate read of x_t = W_in s + c)
    U_g   = A W_gv[g] 2^(k - P)                                   (the gate read of v, sent as v >> k)

``P`` the largest that keeps the calibration range of ``x`` inside the chip's activation
bits with 25 % headroom, ``G`` (at most 12) likewise for the gate pre-activations, ``k`` the
smallest that keeps ``v``'s range inside ``v_bits``. Each
matrix goes onto Dense's 8-bit grid with its own exponent. The readout is Lava's LIF on the
spikes (:func:`.loihi2_common.loihi2_readout`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..hardware import FixedPointSpec, load_chip
from ..models.networks import SpikingNetwork
from ..models.neurons.gpn import GPNState, _gpn_update
from ..quant.gpn_graded import GATES, GpnGradedLayer
from ..quant.loihi2_network import Loihi2Network
from .distill import logits_of
from .loihi2_common import HEADROOM, calibrate, loihi2_readout, on_grid

#: The gates' fraction bits: at most this, fewer where the pre-activations' range needs it (at least the floor).
GATE_FRAC_MAX, GATE_FRAC_MIN = 12, 6


def _check_gpn(net: SpikingNetwork) -> None:
    if net.config.neuron != "gpn":
        raise ConfigError("model.neuron", f"expected a GPN network, got {net.config.neuron!r}")


def _run_hard(net: SpikingNetwork, x: torch.Tensor, stats: list[dict[str, float]] | None = None) -> torch.Tensor:
    """The GPN layers with hard gates (evaluation mode) on frames ``x``: the last layer's spikes
    [B, T, C]. ``stats``: per layer, the largest |x|, |v| and gate pre-activation |a| seen."""
    h = x
    for k, layer in enumerate(net.layers):
        pop = layer.neuron
        cur = layer.synapse(h)
        st = pop.initial_state(h.shape[0], h.device, h.dtype)
        w, b = pop.gates.weight, pop.gates.bias
        out = []
        for x_t in cur.transpose(0, 1).unbind(0):
            a = torch.addmm(b, torch.cat([st.v, x_t], dim=-1), w.t())
            if stats is not None:
                stats[k]["x"] = max(stats[k]["x"], float(x_t.abs().max()))
                stats[k]["a"] = max(stats[k]["a"], float(a.abs().max()))
            s, st = _gpn_update(a, x_t, GPNState(st.v, st.v_reset), pop.surrogate, "hard")
            if stats is not None:
                stats[k]["v"] = max(stats[k]["v"], float(st.v.abs().max()))
            out.append(s)
        h = torch.stack(out, 1)
    return h


@torch.no_grad()
def hard_gate_gpn_logits(net: SpikingNetwork, x: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    """Logits of the float GPN with hard gates (the hardware-friendly GPN's own; a sigmoid GPN's
    gates replaced)."""
    _check_gpn(net)
    return logits_of(net, x, batch_size, forward=lambda xb: net.readout(_run_hard(net, xb)))


def _layer(name: str, layer: Any, stats: dict[str, float], v_bits: int, fp: FixedPointSpec
           ) -> tuple[GpnGradedLayer, dict[str, Any]]:
    pop = layer.neuron
    c = pop.size
    w_in = layer.synapse.weight.detach().double().cpu().numpy()
    c_in = np.zeros(c) if layer.synapse.bias is None else layer.synapse.bias.detach().double().cpu().numpy()
    gw = pop.gates.weight.detach().double().cpu().numpy()
    gb = pop.gates.bias.detach().double().cpu().numpy()
    act_max = 2.0 ** (fp.activation_bits - 1) - 1
    fits = lambda top: math.floor(math.log2(HEADROOM * act_max / max(top, 1e-12)))  # noqa: E731
    gate_frac = int(np.clip(fits(stats["a"]) + 2, GATE_FRAC_MIN, GATE_FRAC_MAX))
    gain = 2.0 ** (gate_frac - 2)
    v_exp = int(np.clip(fits(stats["x"]), gate_frac - 2, fp.state_bits - 8))
    v_top = stats["v"] * 2.0 ** v_exp / HEADROOM
    v_shift = max(0, math.ceil(math.log2(max(v_top, 1.0))) - (v_bits - 1))
    w_int, w_exp = on_grid(2.0 ** v_exp * w_in, fp)
    gate_w, gate_w_exp, gate_u, gate_u_exp, gate_b = [], [], [], [], []
    for g in range(len(GATES)):
        rows = slice(g * c, (g + 1) * c)
        wv, wx = gw[rows, :c], gw[rows, c:]
        m, e = on_grid(gain * wx @ w_in, fp)
        u, f = on_grid(gain * wv * 2.0 ** (v_shift - v_exp), fp)
        gate_w.append(m)
        gate_w_exp.append(e)
        gate_u.append(u)
        gate_u_exp.append(f)
        gate_b.append(np.round(gain * (gb[rows] + wx @ c_in)).astype(np.int64))
    out = GpnGradedLayer(name, w_in=w_int, w_in_exp=w_exp, c_x=np.round(2.0 ** v_exp * c_in).astype(np.int64),
                         gate_w=np.stack(gate_w), gate_w_exp=tuple(gate_w_exp), gate_u=np.stack(gate_u),
                         gate_u_exp=tuple(gate_u_exp), gate_b=np.stack(gate_b), v_exp=v_exp, v_shift=v_shift,
                         v_bits=v_bits, gate_frac=gate_frac)
    report = {"name": name, "size": c, "kind": "gpn (Loihi 2: gates computed, graded state broadcast)",
              "v_exp": v_exp, "v_shift": v_shift, "v_bits": v_bits, "gate_frac": gate_frac, "gates": pop.gate_kind,
              "exponents": {"w_in": w_exp, **{f"{g}_x": e for g, e in zip(GATES, gate_w_exp)},
                            **{f"{g}_v": e for g, e in zip(GATES, gate_u_exp)}},
              "calibration_max": dict(stats)}
    return out, report


@torch.no_grad()
def fold_gpn_loihi2(net: SpikingNetwork, calib_x: torch.Tensor, *, batch_size: int = 64, chip: str = "loihi2",
                    v_bits: int = 12, progress: bool = False) -> tuple[Loihi2Network, dict[str, Any]]:
    """The Loihi 2 integer network of ``net`` (GPN), calibrated on ``calib_x`` [N, T, in]
    (module docstring), and its report."""
    _check_gpn(net)
    fp = load_chip(chip).require_fixed_point()
    stats = [{"x": 0.0, "v": 0.0, "a": 0.0} for _ in net.layers]
    last = calibrate(net, _run_hard, calib_x, stats, batch_size, progress, "GPN Loihi 2 calibration")
    layers, reports = [], []
    for k, (layer, st) in enumerate(zip(net.layers, stats)):
        out, rep = _layer(f"hidden{k}", layer, st, v_bits, fp)
        layers.append(out)
        reports.append(rep)
    readout, r_rep = loihi2_readout(net, 1.0, last, fp)
    gates = net.layers[0].neuron.gate_kind
    notes = [f"GPN on Loihi 2: the four gates computed by the neuron every step from a graded {v_bits}-bit broadcast "
             "of its state and from the input spikes (the gates' x columns composed with the input weights), hard "
             "sigmoid a / 4 + 1/2 and hard tanh; 8-bit weights; dense: every gate MAC counted"]
    if gates != "hard":
        notes.append("the network was trained with the paper's sigmoid / tanh gates: hard ones take their place "
                     "(the hardware-friendly GPN, preset gpn-hw, is trained with them)")
    meta = {"readout": r_rep["mode"], "readout_scale": r_rep["scale"], "target": "loihi2", "source_kind": "gpn"}
    graded = Loihi2Network(net.config.input_size, (*layers, readout), chip=chip, metadata=meta)
    return graded, {"kind": "gpn", "target": "loihi2", "graded": True, "exact": False, "notes": notes,
                    "layers": reports, "readout": r_rep}
