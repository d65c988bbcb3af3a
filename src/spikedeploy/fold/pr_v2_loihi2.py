"""pr-v2 onto Loihi 2 (``fold --target loihi2``): the gates computed, the outputs graded spikes.

The Loihi 1 fold (:mod:`.pr_v2`) makes the forget gate a constant per neuron and the
multi-bit outputs binary spikes. Measured on the main job's pr-v2 model (SHD-format
default data, test split): the constant gate alone takes it from 65.7 % to 38.3 %, the
binary spikes and the ReLU's line the rest (docs/benchmarks.md). Loihi 2 keeps both: the
layer becomes a :class:`~spikedeploy.quant.pr_graded.PrGradedLayer`, whose neuron program
computes the gate from its pre-activations and emits graded payloads.

One change to the model is needed for fixed point: the sigmoid of the forget gate
becomes the hard sigmoid ``clip(a / 6 + 1/2, 0, 1)`` (PyTorch's ``Hardsigmoid``), without
retraining; :func:`hard_gate_logits` runs the float network with it so the report shows
what that costs on its own. Then, per layer, with ``scale`` the layer's quantiser scale
(``Y = q / scale``) and the batch norm's evaluation-mode affine map folded in:

- forget rows in Q12 of ``a / 6``: ``W_f' = 4096 / 6 * bn_scale_f W_f / in_unit``,
  ``U_f' = 4096 / 6 * U_f / scale``, ``b_f = 4096 / 6 * (bn_scale_f c_f + bn_shift_f)``;
- candidate rows in V units, one level ``2^L``: ``W_c' = scale 2^L bn_scale_c W_c / in_unit``,
  ``U_c' = 2^L U_c``, ``b_c = scale 2^L (bn_scale_c c_c + bn_shift_c)``; ``L`` the largest
  that keeps the candidate's calibration range inside the chip's activation bits with
  25 % headroom;
- each matrix on Dense's 8-bit grid with its own exponent (``in_unit``: 1 for the input's
  spikes, the previous layer's ``scale`` for its payloads);
- the quantiser's bits and threshold as they are.

The readout (Lava's LIF, non-spiking, reading the payloads) gets one gain that keeps both
its synaptic input and its voltage inside the chip's widths on calibration data. An input
quantiser (models converted from the authors' code) is dropped, as in the Loihi 1 fold.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..hardware import FixedPointSpec, load_chip
from ..models.networks import SpikingNetwork
from ..models.neurons.pr_rnn import PRv2State, quantize
from ..quant.loihi2_network import Loihi2Network
from ..quant.pr_graded import GATE_ONE, PrGradedLayer
from .distill import logits_of
from .loihi2_common import HEADROOM, calibrate, loihi2_readout, on_grid
from .pr_v2 import _check_pr

#: The hard sigmoid's slope: ``clip(a / HARD_SLOPE + 1/2, 0, 1)``.
HARD_SLOPE = 6.0


def _run_hard(net: SpikingNetwork, x: torch.Tensor, stats: list[dict[str, float]] | None = None):
    """The pr-v2 layers with hard-sigmoid forget gates on frames ``x``: the last layer's outputs
    [B, T, C]. ``stats``: per layer, the largest |forget| and |candidate| pre-activation seen."""
    h = x if net.input_quant is None else net.input_quant(x)
    for k, layer in enumerate(net.layers):
        pop = layer.neuron
        p = pop.params()
        drive = pop._normalise(layer.synapse(h))
        st = pop.initial_state(h.shape[0], h.device, h.dtype)
        out = []
        for x_t in drive.transpose(0, 1).unbind(0):
            a_f, a_c = torch.addmm(x_t, st.y, p.w_rec.t()).chunk(2, dim=-1)
            if stats is not None:
                stats[k]["f"] = max(stats[k]["f"], float(a_f.abs().max()))
                stats[k]["c"] = max(stats[k]["c"], float(a_c.abs().max()))
            f = F.hardsigmoid(a_f)
            i = f * st.i + (1 - f) * F.relu(a_c)
            v = st.v + i
            y = quantize(v, p.scale, p.max_abs, p.threshold)
            st = PRv2State(i, v - y, y)
            out.append(y)
        h = torch.stack(out, 1)
    return h


@torch.no_grad()
def hard_gate_logits(net: SpikingNetwork, x: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    """Logits of the float pr-v2 network with hard-sigmoid forget gates (module docstring)."""
    _check_pr(net)
    return logits_of(net, x, batch_size, forward=lambda xb: net.readout(_run_hard(net, xb)))


def _layer(name: str, layer: Any, in_unit: float, stats: dict[str, float], fp: FixedPointSpec
           ) -> tuple[PrGradedLayer, dict[str, Any]]:
    pop = layer.neuron
    c = pop.size
    p = pop.neuron_params()
    w = layer.synapse.weight.detach().double().cpu().numpy()
    syn_b = np.zeros(2 * c) if layer.synapse.bias is None else layer.synapse.bias.detach().double().cpu().numpy()
    bn_scale = p["bn_scale"].double().numpy() if "bn_scale" in p else np.ones(2 * c)
    bn_shift = p["bn_shift"].double().numpy() if "bn_shift" in p else np.zeros(2 * c)
    u = p["w_rec"].double().numpy()
    scale, bits = float(p["q_scale"]), int(p["q_bits"])
    act_max = 2.0 ** (fp.activation_bits - 1) - 1
    level_exp = int(np.clip(math.floor(math.log2(HEADROOM * act_max / max(stats["c"] * scale, 1e-12))),
                            0, fp.state_bits - bits - 1))
    g_f, g_c = GATE_ONE / HARD_SLOPE, scale * 2.0 ** level_exp
    rows = {"f": slice(0, c), "c": slice(c, 2 * c)}
    ints, exps = {}, {}
    for which, gain in (("f", g_f), ("c", g_c)):
        r = rows[which]
        ints[f"w{which}"], exps[f"w{which}_exp"] = on_grid(gain * bn_scale[r, None] * w[r] / in_unit, fp)
        ints[f"u{which}"], exps[f"u{which}_exp"] = on_grid(gain * u[r] / scale, fp)
        ints[f"b{which}"] = np.round(gain * (bn_scale[r] * syn_b[r] + bn_shift[r])).astype(np.int64)
    out = PrGradedLayer(name, **ints, **exps, level_exp=level_exp, bits=bits, threshold=int(p["q_threshold"]))
    report = {"name": name, "size": c, "kind": "pr-v2 (Loihi 2: gates computed, graded outputs)",
              "payload_bits": bits, "level_exp": level_exp, "scale": scale,
              "exponents": {k: int(v) for k, v in exps.items()},
              "calibration_max": {"forget_preactivation": stats["f"], "candidate_preactivation": stats["c"]},
              "forget_preactivation_in_q12_max": stats["f"] * g_f}
    return out, report


@torch.no_grad()
def fold_pr_v2_loihi2(net: SpikingNetwork, calib_x: torch.Tensor, *, batch_size: int = 64, chip: str = "loihi2",
                      progress: bool = False) -> tuple[Loihi2Network, dict[str, Any]]:
    """The Loihi 2 integer network of ``net`` (pr-v2), calibrated on ``calib_x`` [N, T, in]
    (module docstring), and its report."""
    _check_pr(net)
    fp = load_chip(chip).require_fixed_point()
    stats = [{"f": 0.0, "c": 0.0} for _ in net.layers]
    last = calibrate(net, _run_hard, calib_x, stats, batch_size, progress, "pr-v2 Loihi 2 calibration")
    layers, reports, in_unit = [], [], 1.0
    for k, (layer, st) in enumerate(zip(net.layers, stats)):
        out, rep = _layer(f"hidden{k}", layer, in_unit, st, fp)
        layers.append(out)
        reports.append(rep)
        in_unit = rep["scale"]
    readout, r_rep = loihi2_readout(net, in_unit, last, fp)
    notes = ["pr-v2 on Loihi 2: forget gates computed by the neuron (sigmoid -> hard sigmoid a / 6 + 1/2), candidate "
             "ReLU kept, outputs graded spikes of the layer's quantiser (no binarisation), batch norm folded into "
             "the weights and biases; 8-bit weights, 12-bit gate"]
    if net.input_quant is not None:
        notes.append("the input quantiser is dropped: the network reads the frames themselves")
    meta = {"readout": r_rep["mode"], "readout_scale": r_rep["scale"], "target": "loihi2", "source_kind": "pr-v2"}
    graded = Loihi2Network(net.config.input_size, (*layers, readout), chip=chip, metadata=meta)
    return graded, {"kind": "pr-v2", "target": "loihi2", "graded": True, "exact": False, "notes": notes,
                    "layers": reports, "readout": r_rep}
