"""What the Loihi 2 folds share (:mod:`.pr_v2_loihi2`, :mod:`.gpn_loihi2`): the calibration run of
the hard-gate float network, a float matrix onto Dense's 8-bit grid, and the non-spiking
readout that reads the last hidden layer on Loihi 2.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from ..hardware import FixedPointSpec
from ..models.networks import SpikingNetwork
from ..models.to_spec import readout_layer
from ..quant import fixed_point as fx
from ..quant.loihi_network import LoihiLayer, decay_groups
from ..quant.ptq import _bias_exp_for, _exp_for, _quantize_weight, quantize_decays
from .common import calibration_batches

#: The part of a width the calibration maxima may use (25 % headroom).
HEADROOM = 0.8


#: The hard-gate float network's hidden layers: ``run(net, frames, stats) -> the last layer's outputs``,
#: updating ``stats`` (per layer, the largest magnitudes it tracks) when given.
HardRun = Callable[[SpikingNetwork, torch.Tensor, list[dict[str, float]] | None], torch.Tensor]


@torch.no_grad()
def calibrate(net: SpikingNetwork, run: HardRun, calib_x: torch.Tensor, stats: list[dict[str, float]],
              batch_size: int, progress: bool, desc: str) -> list[torch.Tensor]:
    """``run`` over the calibration frames in evaluation mode (``net``'s mode restored after):
    ``stats`` filled, the last hidden layer's outputs per batch returned (for the readout)."""
    was = net.training
    net.eval()
    last = [run(net, xb, stats) for xb in calibration_batches(net, calib_x, batch_size, progress=progress,
                                                              desc=desc)]
    net.train(was)
    return last


def on_grid(w: np.ndarray, fp: FixedPointSpec) -> tuple[np.ndarray, int]:
    """``(W_int, exp)``: ``w`` (float, already in the target units) on Dense's 8-bit grid, its
    largest magnitude at the grid's top: the quantiser's own exponent and rounding
    (:mod:`spikedeploy.quant.ptq`), whose scale counts ``a_in << activation_shift``, so a scale of
    ``2^activation_shift`` puts ``w`` itself on the grid."""
    _, lo, hi, step, top = fx.float_weight_grid(w, 8, fp)
    unit = float(1 << fp.activation_shift)
    exp = _exp_for(unit, float(np.abs(w).max()) if w.size else 0.0, top, fp, up=True)
    return _quantize_weight(w, unit, exp, lo, hi, step, fp)[0], exp


def loihi2_readout(net: SpikingNetwork, y_scale: float, calib: list[torch.Tensor], fp: FixedPointSpec
                   ) -> tuple[LoihiLayer, dict[str, Any]]:
    """The readout on the last layer's outputs (``y_scale``: payload levels per float unit of them, the
    layer's quantiser scale; 1 for spikes), one gain for its synaptic input and its voltage, from
    ``calib`` (the last layer's float outputs [B, T, C] per batch). Returns the LoihiLayer and its
    report (mode, voltage scale)."""
    spec, mode = readout_layer(net.readout)
    w = spec.weight.astype(np.float64) / y_scale
    a_max = v_max = 0.0
    for h in calib:                                            # the last layer's outputs Y [B, T, C]
        a_max = max(a_max, float((h.double() @ torch.as_tensor(spec.weight.T, dtype=torch.float64)).abs().max()))
        trace = net.readout.trace(h)                           # the mean readout's voltage is the running sum
        v_max = max(v_max, float((trace.cumsum(1) if mode == "mean" else trace).abs().max()))
    shift = 1 << fp.activation_shift
    act_max, v_lim = 2.0 ** (fp.activation_bits - 1) - 1, 2.0 ** (fp.state_bits - 1) - 1
    gain = HEADROOM * min(act_max / max(a_max, 1e-12), v_lim / shift / max(v_max, 1e-12))
    w_int, exp = on_grid(w * gain, fp)
    v_scale = gain * shift
    bias = spec.bias.astype(np.float64)
    bias_exp = _bias_exp_for(bias, v_scale, fp)
    bias_mant = np.clip(np.round(bias * v_scale / 2.0 ** bias_exp), fp.bias_mant_min, fp.bias_mant_max)
    du, dv = quantize_decays(spec.du, spec.dv, fp)
    layer = LoihiLayer("readout", weight=w_int, weight_exp=exp, du=du, dv=dv, vth=None,
                       bias_mant=bias_mant.astype(np.int64), bias_exp=bias_exp, spiking=False)
    return layer, {"mode": mode, "scale": v_scale, "weight_exp": exp,
                   "decay_groups": len(decay_groups(layer.du, layer.dv, layer.vth))}


