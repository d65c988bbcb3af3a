"""Post-training quantisation of a float NetworkSpec to Loihi's integer neuron.

:func:`quantize` turns a :class:`~spikedeploy.netspec.NetworkSpec` (LIF / CUBA-LIF
layers and a non-spiking readout) into a validated
:class:`~spikedeploy.quant.loihi_network.LoihiNetwork` and a :class:`QuantReport`.
Every width and shift comes from the chip profile (``hardware/loihi2.toml``, through
:class:`~spikedeploy.hardware.FixedPointSpec`).

**Scales.** Layer ``k`` gets one scale ``lam`` (float units -> Loihi integer units of
``u`` and ``v``): ``v_int ~ lam * v``, ``u_int ~ lam * u``. Since Dense delivers
``a_in = W_int @ s << weight_exp`` and the neuron adds ``a_in << 6`` to ``u``::

    W_int    = grid(lam * W / 2^(weight_exp + 6))     8-bit Dense grid (mixed sign: even, [-256, 254])
    W_rec    = grid(lam * W_rec / 2^(rec_weight_exp + 6))   its own exponent
    vth      = round(lam * vth / 2^6)                  17 bits (spike when v > vth << 6)
    bias     = round(lam * bias / 2^bias_exp) << bias_exp   13-bit mantissa, exponent 0..7
    du       = round(4096 * du) - 1,  dv = round(4096 * dv)   12 bits (Lava adds 1 to du)

The quantisation step of the weights is ``max|W| / 127`` whatever ``lam`` is; ``lam``
only sets the resolution of the state, threshold and bias (17-24 bits). So the
quantiser picks the **largest** ``lam`` the datapath allows and then the exponent that
puts the largest weight on the top of the grid. A calibration pass runs the float
network (the models' own step function, as :class:`~spikedeploy.models.spec_network.SpecNetwork`)
on calibration samples and records, per layer, the largest input current ``|x_t|``,
current ``|u|`` and voltage ``|v|`` (before the reset); then::

    lam_max = min( (vth_max << 6) / max vth,               the threshold fits 17 bits
                   (bias_mant_max << bias_exp_max) / max|bias|,   the bias fits
                   (a_max << 6) / (headroom * max|x|),     a_in fits 16 bits
                   2^23 / (headroom * max|u|),             u does not wrap at 24 bits
                   (2^23 - 1) / v_need )                   v does not saturate (below)

    v_need = min(headroom * max(-v), v_floor * max vth)    spiking layers
    v_need = headroom * max|v|, against vth_max << 6        the non-spiking readout
    weight_exp = floor(log2(lam_max * max|W| / (top * 2^6)))  clamped to the profile's range
    lam = min(lam_max, top * 2^(weight_exp + 6) / max|W|)

(``top`` = 254 for a mixed-sign matrix at 8 bits). For the readout the voltage bound
covers all ``T`` steps of the calibration samples, so the GPN paper's mean readout
(``du = 1, dv = 0``: an integrator summing ``W s_t + b`` over ``T`` steps) does not
saturate on them; ``headroom`` (default 2) leaves a factor for unseen inputs.

A spiking layer's voltage above its threshold only makes it spike and reset, so only
the negative side of ``v`` can saturate harmfully. A float voltage can sink far below
zero (tens or hundreds of thresholds after strong inhibition); keeping all of that
range would cost the threshold, bias and weights their resolution (and push the
weight exponent negative, where Dense drops low bits). So the negative range kept is
capped at ``v_floor`` thresholds (default 32): a deeper voltage saturates at
``-(2^23 - 1)``, i.e. the neuron recovers from ``-v_floor * vth`` instead. This is an
approximation by design; the report counts the saturations in the emulator and the
spike agreement shows their effect (``v_floor=None`` keeps the full range and makes
any saturation a strict error).

**Checks.** Strict by default: a value that cannot be represented raises
:class:`~spikedeploy.errors.QuantizationError` naming the layer and field -- clipped
weights beyond ``max_clipped_fraction``, a threshold beyond 17 bits or rounding to
0, a bias beyond 13 bits at exponent 7, non-binary input (Loihi's input spikes are
binary), and, on the calibration run of the integer emulator, ``a_in`` outside 16
bits, a possible wrap of ``u``, a saturated ``v``, a readout that reaches its
threshold. ``allow_approx=True`` accepts each with a :class:`QuantizationWarning`
(clipping, clamping, binarising the input) and records it in the report.

**Report.** :class:`QuantReport` has, per layer, the scale and exponents, the weight
RMS / max error, clipped and zeroed weights, the decay / threshold / bias errors,
the calibrated ranges as fractions of the datapath, and -- from running the integer
network in the bit-exact emulator (:func:`~spikedeploy.quant.emulator.emulate`) next to
the float network on the same (binary) samples -- the spike agreement, the firing
rates, the voltage error in threshold units, and saturation counts; for the whole
network the agreement of the logits (and the accuracies when labels are given).

Quantisation-aware fine-tuning on the same integer grid is :mod:`.qat`.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch

from ..delays import delayed_inputs
from ..errors import ConfigError, QuantizationError, ShapeMismatchError
from ..hardware import FixedPointSpec, load_chip
from ..models.neurons.lif import CubaLIFState, cuba_lif_step
from ..models.spec_network import SpecNetwork
from ..netspec import LayerSpec, NetworkSpec
from . import fixed_point as fx
from .emulator import emulate, reduce_readout
from .loihi_network import LoihiLayer, LoihiNetwork

#: Tag stored in the LoihiNetwork's metadata under "quantizer" (a format tag: the files written
#: before the quantiser moved from ``quant/loihi.py`` to ``quant/ptq.py`` carry the same one).
QUANTIZER = "spikedeploy.quant.loihi/1"
#: How the quantiser chooses the float range a weight matrix maps onto its grid (QuantConfig.weight_range).
WEIGHT_RANGES = ("max", "mse")


class QuantizationWarning(UserWarning):
    """An approximation accepted with ``allow_approx=True`` (the loss is in the report)."""


# ----------------------------------------------------------------------------- settings

@dataclass(frozen=True)
class LayerScale:
    """The fixed-point plan of one layer: ``scale`` (float -> integer units) and exponents.

    ``rec_weight_exp`` is None for a layer without recurrence.
    """

    scale: float
    weight_exp: int
    bias_exp: int = 0
    rec_weight_exp: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"scale": float(self.scale), "weight_exp": int(self.weight_exp), "bias_exp": int(self.bias_exp),
                "rec_weight_exp": None if self.rec_weight_exp is None else int(self.rec_weight_exp)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LayerScale":
        rec = d.get("rec_weight_exp")
        return cls(float(d["scale"]), int(d["weight_exp"]), int(d.get("bias_exp", 0)),
                   None if rec is None else int(rec))


@dataclass(frozen=True)
class QuantConfig:
    """How to quantise.

    headroom              the calibrated maxima of |x|, |u|, |v| times this must fit (>= 1)
    v_floor               negative voltage range kept in spiking layers, in units of the
                          layer's largest threshold (None: all the calibration needs)
    max_clipped_fraction  fraction of a layer's weights that may clip in strict mode (0: none)
    weight_range          "max" (the largest weight on the grid's top: nothing clips) or "mse"
                          (the clip level that minimises the squared weight error: the few
                          largest weights clip, by choice, reported but not refused)
    allow_approx          accept unrepresentable values (clip/clamp/binarise) with a warning
    plan                  fixed per-layer :class:`LayerScale` (from :func:`plan_scales` or QAT);
                          layers not in it are calibrated
    chip                  chip profile (hardware/<chip>.toml)
    num_weight_bits       Dense's num_weight_bits (8: the full 8-bit grid)
    input_bits            0: the input is binary spikes; b > 0: graded input payloads, signed b-bit
                          integers (Loihi 2; made by :mod:`.graded_input`), taken as they are
    """

    headroom: float = 2.0
    v_floor: float | None = 32.0
    max_clipped_fraction: float = 0.0
    weight_range: str = "max"
    allow_approx: bool = False
    plan: Mapping[str, LayerScale] | None = None
    chip: str = "loihi2"
    num_weight_bits: int = 8
    input_bits: int = 0

    def __post_init__(self) -> None:
        if not (isinstance(self.headroom, (int, float)) and math.isfinite(self.headroom) and self.headroom >= 1):
            raise ConfigError("quant.headroom", f"must be a number >= 1, got {self.headroom!r}")
        if self.v_floor is not None and not (isinstance(self.v_floor, (int, float)) and math.isfinite(self.v_floor)
                                             and self.v_floor >= 1):
            raise ConfigError("quant.v_floor", f"must be a number >= 1 (thresholds) or None, got {self.v_floor!r}")
        if not (isinstance(self.max_clipped_fraction, (int, float)) and 0 <= self.max_clipped_fraction <= 1):
            raise ConfigError("quant.max_clipped_fraction", f"must lie in [0, 1], got {self.max_clipped_fraction!r}")
        if not (isinstance(self.input_bits, int) and 0 <= self.input_bits <= 32):
            raise ConfigError("quant.input_bits", f"must be 0 (binary spikes) or a payload width 1..32, got "
                                                  f"{self.input_bits!r}")
        if self.weight_range not in WEIGHT_RANGES:
            raise ConfigError("quant.weight_range", f"unknown mode {self.weight_range!r}", valid=WEIGHT_RANGES)
        if not isinstance(self.allow_approx, bool):
            raise ConfigError("quant.allow_approx", f"must be true or false, got {self.allow_approx!r}")
        if self.plan is not None:
            plan = {str(k): (v if isinstance(v, LayerScale) else LayerScale.from_dict(v))
                    for k, v in dict(self.plan).items()}
            for k, v in plan.items():
                if not (math.isfinite(v.scale) and v.scale > 0):
                    raise ConfigError(f"quant.plan[{k!r}].scale", f"must be a positive number, got {v.scale!r}")
            object.__setattr__(self, "plan", plan)

    def to_dict(self) -> dict[str, Any]:
        return {"headroom": float(self.headroom),
                "v_floor": None if self.v_floor is None else float(self.v_floor),
                "weight_range": self.weight_range,
                "max_clipped_fraction": float(self.max_clipped_fraction),
                "allow_approx": self.allow_approx, "chip": self.chip, "num_weight_bits": self.num_weight_bits,
                "input_bits": self.input_bits, "plan": None if self.plan is None else {k: v.to_dict() for k, v in self.plan.items()}}


# ----------------------------------------------------------------------------- report

@dataclass
class LayerQuantReport:
    """Quantisation of one layer (see :class:`QuantReport`). Errors are in float units
    unless named otherwise; ``*_frac`` are fractions of the datapath's range."""

    name: str
    spiking: bool
    scale: float
    weight_exp: int
    rec_weight_exp: int | None
    bias_exp: int
    sign_mode: str
    limit: str                       # which constraint set the scale ("threshold", "a_in", "u", "v", ...)
    weight_rms_error: float
    weight_rel_rms_error: float      # RMS error / RMS of the float weights
    weight_max_error: float
    weights_clipped: int
    weights_zeroed: int              # non-zero float weights that became 0
    weight_range_used: float         # max |W_int| / top of the grid
    rec_weight_rms_error: float | None
    rec_weights_clipped: int
    du_max_error: float
    dv_max_error: float
    vth_max_rel_error: float | None
    bias_max_error: float
    decay_groups: int                # Lava LIF processes needed (distinct du, dv, vth)
    calib_max_x: float               # float maxima on the calibration samples
    calib_max_u: float
    calib_max_v: float               # spiking layers: most negative v (above vth it only spikes)
    a_in_frac: float                 # lam * max|x| / 2^6 / a_max, etc. (planned, float)
    u_frac: float
    v_frac: float                    # spiking layers: of the negative range (may exceed 1 by v_floor)
    v_clip_vth: float | None = None  # spiking layers: v saturates at -v_clip_vth * max vth
    emu_a_in_overflow: int = 0       # from the emulator on the calibration samples
    emu_u_max_frac: float = 0.0
    emu_u_near_wrap: int = 0         # |u| >= 2^23 - 2^21: a wrap cannot be excluded
    emu_v_max_frac: float = 0.0
    emu_v_saturated: int = 0         # |v| == 2^23 - 1
    emu_readout_overflow: int = 0    # non-spiking readout reached its threshold
    spike_agreement: float | None = None   # fraction of (sample, step, neuron) equal
    rate_float: float | None = None
    rate_emulator: float | None = None
    v_rms_error_vth: float | None = None   # RMS (v_emu / lam - max(v_float, -clip)) / vth
    readout_rel_error: float | None = None  # readout: RMS (v_emu / lam - v) / max |v|

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class QuantReport:
    """What :func:`quantize` did and what it cost (plain data: :meth:`to_dict`)."""

    layers: list[LayerQuantReport]
    n_samples: int
    n_steps: int
    readout: str
    config: dict[str, Any]
    input_clipped: int = 0                 # input entries > 1 clipped to 1 (allow_approx)
    input_binarization_logit_agreement: float | None = None  # argmax float(x) == float(binarised x)
    logit_agreement: float | None = None   # argmax float == argmax emulator
    logit_max_abs_error: float | None = None
    logit_rel_error: float | None = None   # RMS logit error / RMS float logit
    accuracy_float: float | None = None    # on the float network with the original inputs
    accuracy_emulator: float | None = None
    approximations: list[str] = field(default_factory=list)

    def layer(self, name: str) -> LayerQuantReport:
        for l in self.layers:
            if l.name == name:
                return l
        raise ConfigError("layer", f"no layer named {name!r}", valid=[l.name for l in self.layers])

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["layers"] = [l.to_dict() for l in self.layers]
        return d

    def format(self) -> str:
        """A per-layer text table and the network summary."""
        head = ("layer", "scale", "set by", "w_exp", "b_exp", "w relRMS", "clip", "zero", "range", "du/dv err",
                "vth err", "a_in/u/v used", "v clip", "spike agree", "rate f/emu", "v err (vth)", "sat a/u/v/r")
        rows = []
        for l in self.layers:
            rec = "" if l.rec_weight_exp is None else f"/{l.rec_weight_exp}"
            vth = "-" if l.vth_max_rel_error is None else f"{l.vth_max_rel_error:.1e}"
            agree = "-" if l.spike_agreement is None else f"{l.spike_agreement:.4f}"
            rates = ("-" if l.rate_float is None else f"{l.rate_float:.3f}/{l.rate_emulator:.3f}")
            verr = (f"{l.v_rms_error_vth:.3f}" if l.v_rms_error_vth is not None
                    else (f"{l.readout_rel_error:.3f} (rel)" if l.readout_rel_error is not None else "-"))
            sat = f"{l.emu_a_in_overflow}/{l.emu_u_near_wrap}/{l.emu_v_saturated}/{l.emu_readout_overflow}"
            clip = "-" if l.v_clip_vth is None else f"-{l.v_clip_vth:.3g}"
            rows.append((l.name, f"{l.scale:.4g}", l.limit, f"{l.weight_exp}{rec}", str(l.bias_exp),
                         f"{l.weight_rel_rms_error:.4f}", str(l.weights_clipped + l.rec_weights_clipped),
                         str(l.weights_zeroed), f"{l.weight_range_used:.2f}",
                         f"{max(l.du_max_error, l.dv_max_error):.1e}", vth,
                         f"{l.a_in_frac:.2f}/{l.u_frac:.2f}/{l.v_frac:.2f}", clip, agree, rates, verr, sat))
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
        fmt_row = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
        lines = [f"quantisation report ({self.n_samples} calibration samples x {self.n_steps} steps, "
                 f"readout {self.readout!r})", fmt_row(head), fmt_row(tuple("-" * w for w in widths))]
        lines += [fmt_row(r) for r in rows]
        if self.logit_agreement is not None:
            lines.append(f"logits: argmax agreement float vs emulator {self.logit_agreement:.4f}, "
                         f"max abs error {self.logit_max_abs_error:.4g}, relative RMS error {self.logit_rel_error:.4g}")
        if self.accuracy_float is not None:
            lines.append(f"accuracy on the calibration samples: float {self.accuracy_float:.4f}, "
                         f"emulator {self.accuracy_emulator:.4f}")
        if self.input_clipped:
            lines.append(f"input: {self.input_clipped} count(s) > 1 clipped to binary spikes "
                         f"(argmax agreement float counts vs binary {self.input_binarization_logit_agreement:.4f})")
        for a in self.approximations:
            lines.append(f"approximation: {a}")
        lines.append("columns: set by = the constraint that limits the scale; w relRMS = RMS weight error / "
                     "RMS weight; range = max|W_int| / grid top; a_in/u/v used = fraction of the 16-bit a_in and "
                     "24-bit u, v ranges the calibration maxima use (<= 1/headroom); v err = RMS voltage error "
                     "in threshold units (readout: relative); v clip = where v saturates, in thresholds; sat = emulator "
                     "a_in overflows / u near the wrap / v saturations / readout threshold crossings")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- float calibration

@dataclass
class _FloatTrace:
    spikes: list[torch.Tensor]      # per spiking layer [B, T, n] (int8), None for non-spiking
    voltage: list[torch.Tensor]     # v after reset [B, T, n] float32
    logits: torch.Tensor
    max_x: list[float]
    max_u: list[float]
    max_v: list[float]              # |v| before the reset; spiking layers: max(-v) (see _float_run)


@torch.no_grad()
def _float_run(spec: NetworkSpec, x: torch.Tensor, batch_size: int = 128) -> _FloatTrace:
    """Run the float spec (SpecNetwork's step function) and record what calibration needs."""
    net = SpecNetwork(spec)
    L = len(spec.layers)
    max_x, max_u, max_v = [0.0] * L, [0.0] * L, [0.0] * L
    spikes: list[list[torch.Tensor]] = [[] for _ in range(L)]
    volts: list[list[torch.Tensor]] = [[] for _ in range(L)]
    logits = []
    for b0 in range(0, x.shape[0], batch_size):
        signal = x[b0:b0 + batch_size].to(torch.float32)
        vs_last = None
        for i, layer in enumerate(spec.layers):
            weight, p = net.layer_params(i)
            current = torch.nn.functional.linear(delayed_inputs(signal, layer.delays), weight)
            zero = current.new_zeros(current.shape[0], layer.n_out)
            state = CubaLIFState(zero, zero, zero)
            outs, vs = [], []
            for x_t in current.unbind(1):
                x_in = x_t if p.w_rec is None else torch.addmm(x_t, state.s, p.w_rec.t())
                v_pre = (1 - p.dv) * state.v + ((1 - p.du) * state.u + x_in) + p.bias
                s, state = cuba_lif_step(x_t, state, p, net.surrogate)
                max_x[i] = max(max_x[i], float(x_in.abs().max()) if x_in.numel() else 0.0)
                max_u[i] = max(max_u[i], float(state.u.abs().max()) if x_in.numel() else 0.0)
                # A spiking layer's v above its threshold only makes it spike and reset (also when
                # clipped at 2^23 - 1), so only the negative side can saturate harmfully.
                v_mag = (-v_pre).clamp_min(0) if layer.spiking else v_pre.abs()
                max_v[i] = max(max_v[i], float(v_mag.max()) if x_in.numel() else 0.0)
                outs.append(s if layer.spiking else state.v)
                vs.append(state.v)
            signal = torch.stack(outs, 1)
            vtrace = torch.stack(vs, 1)
            if layer.spiking:
                spikes[i].append(signal.to(torch.int8))
            volts[i].append(vtrace)
            vs_last = vtrace
        logits.append(net.readout(vs_last))
    return _FloatTrace([torch.cat(s) if s else None for s in spikes], [torch.cat(v) for v in volts],
                       torch.cat(logits), max_x, max_u, max_v)




# ----------------------------------------------------------------------------- the integer grid



def _exp_for(scale: float, max_w: float, top: int, fp: FixedPointSpec, *, up: bool) -> int:
    """Weight exponent putting ``scale * max_w`` at (up: at most) the grid's top; clamped to the profile."""
    if max_w == 0:
        return 0 if fp.weight_exp_min <= 0 <= fp.weight_exp_max else fp.weight_exp_min
    r = math.log2(scale * max_w / (top * (1 << fp.activation_shift)))
    e = math.ceil(r - 1e-9) if up else math.floor(r + 1e-9)
    return int(min(max(e, fp.weight_exp_min), fp.weight_exp_max))


def _quantize_weight(w: np.ndarray, scale: float, exp: int, lo: int, hi: int, step: int,
                     fp: FixedPointSpec) -> tuple[np.ndarray, int]:
    """(W_int on the grid, number clipped)."""
    q = w.astype(np.float64) * scale / 2.0 ** (exp + fp.activation_shift)
    q = np.round(q / step) * step
    clipped = int(((q < lo) | (q > hi)).sum())
    return np.clip(q, lo, hi).astype(np.int64), clipped


def weight_range(w: np.ndarray, mode: str, lo: int, hi: int, step: int, top: int) -> float:
    """The float value mapped to the top of the weight grid.

    ``"max"``: ``max |w|`` (nothing clips). ``"mse"``: the clip level in
    ``[0.5, 1] x max |w|`` (51 candidates) that minimises the mean squared error of
    rounding plus clipping on this grid; the few weights above it clip (reported).
    """
    a = np.abs(w.astype(np.float64))
    m = float(a.max()) if a.size else 0.0
    if mode == "max" or m == 0:
        return m
    if mode != "mse":
        raise ConfigError("quant.weight_range", f"unknown mode {mode!r}", valid=WEIGHT_RANGES)
    w64 = w.astype(np.float64)
    best, best_err = m, math.inf
    for c in np.linspace(0.5, 1.0, 51):
        unit = c * m / top
        q = np.clip(np.round(w64 / unit / step) * step, lo, hi) * unit
        err = float(np.mean(np.square(q - w64)))
        if err < best_err:
            best, best_err = float(c * m), err
    return best


def _bias_exp_for(b: np.ndarray, scale: float, fp: FixedPointSpec) -> int:
    """Smallest bias exponent whose mantissas fit (bias_exp_max if none does)."""
    need = np.abs(b.astype(np.float64)) * scale
    for e in range(fp.bias_exp_max + 1):
        m = np.round(need / 2.0 ** e)
        if not np.any(m > fp.bias_mant_max) and not np.any(-m < fp.bias_mant_min):
            return e
    return fp.bias_exp_max


def quantize_decays(du: np.ndarray, dv: np.ndarray, fp: FixedPointSpec) -> tuple[np.ndarray, np.ndarray]:
    """Lava's integer ``du``, ``dv`` (0..4095) for float decays: ``round(4096 du) - 1``, ``round(4096 dv)``."""
    unity = fp.decay_unity
    du_i = np.clip(np.round(du.astype(np.float64) * unity) - fp.current_decay_offset, 0, fp.decay_max)
    dv_i = np.clip(np.round(dv.astype(np.float64) * unity) - fp.voltage_decay_offset, 0, fp.decay_max)
    return du_i.astype(np.int64), dv_i.astype(np.int64)


# ----------------------------------------------------------------------------- planning

class _Problems:
    """Strict: raise QuantizationError. allow_approx: warn, and record the loss."""

    def __init__(self, allow: bool):
        self.allow = allow
        self.notes: list[str] = []

    def __call__(self, layer: str, field_: str, problem: str, loss: str, remedy: str) -> None:
        if not self.allow:
            raise QuantizationError(layer, field_, problem,
                                    remedy=f"{remedy}; or pass allow_approx=True (--allow-approx) to accept: {loss}")
        note = f"layer {layer!r}, {field_}: {problem}; accepted: {loss}"
        self.notes.append(note)
        warnings.warn(note, QuantizationWarning, stacklevel=4)


def _scale_limits(layer: LayerSpec, max_x: float, max_u: float, max_v: float, headroom: float,
                  v_floor: float | None, fp: FixedPointSpec) -> tuple[float, str]:
    """The largest scale the datapath allows, and which constraint sets it."""
    lims: dict[str, float] = {}
    if layer.spiking:
        lims["threshold"] = (fp.threshold_max << fp.threshold_shift) / float(np.max(layer.vth))
    bmax = float(np.max(np.abs(layer.bias))) if layer.bias.size else 0.0
    if bmax > 0:
        lims["bias"] = (fp.bias_mant_max << fp.bias_exp_max) / bmax
    if max_x > 0:
        lims["a_in"] = (fp.activation_max << fp.activation_shift) / (headroom * max_x)
    if max_u > 0:
        lims["u"] = (fp.state_half - 1) / (headroom * max_u)
    if max_v > 0:
        if layer.spiking:
            need = headroom * max_v
            if v_floor is not None and need > v_floor * float(np.max(layer.vth)):
                need, key = v_floor * float(np.max(layer.vth)), "v_floor"
            else:
                key = "v"
            lims[key] = fp.voltage_limit / need
        else:
            lims["v"] = (fp.threshold_max << fp.threshold_shift) / (headroom * max_v)
    if not lims:
        return float(1 << fp.activation_shift), "none"
    key = min(lims, key=lims.get)
    return lims[key], key


def _plan_layer(layer: LayerSpec, max_x: float, max_u: float, max_v: float, cfg: QuantConfig,
                fp: FixedPointSpec) -> tuple[LayerScale, str]:
    lam_max, limit = _scale_limits(layer, max_x, max_u, max_v, cfg.headroom, cfg.v_floor, fp)
    _, lo, hi, step, top = fx.float_weight_grid(layer.weight, cfg.num_weight_bits, fp)
    max_w = weight_range(layer.weight, cfg.weight_range, lo, hi, step, top)
    if max_w > 0:
        e = _exp_for(lam_max, max_w, top, fp, up=False)
        lam = min(lam_max, top * 2.0 ** (e + fp.activation_shift) / max_w)
        if lam < lam_max:
            limit = "weight_exp" if e == fp.weight_exp_max else limit
    else:
        e, lam = 0, lam_max
    rec_e = None
    if layer.rec_weight is not None:
        _, rlo, rhi, rstep, rtop = fx.float_weight_grid(layer.rec_weight, cfg.num_weight_bits, fp)
        rmax = weight_range(layer.rec_weight, cfg.weight_range, rlo, rhi, rstep, rtop)
        rec_e = _exp_for(lam, rmax, rtop, fp, up=True)
    return LayerScale(lam, e, _bias_exp_for(layer.bias, lam, fp), rec_e), limit


def _as_input(x: Any, spec: NetworkSpec, input_bits: int = 0) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.ndim != 3 or t.shape[-1] != spec.input_size:
        raise ShapeMismatchError("calibration inputs [batch, time, input_size]",
                                 f"[*, *, {spec.input_size}]", tuple(t.shape))
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ShapeMismatchError("calibration inputs [batch, time, input_size]", "at least 1 sample and 1 step",
                                 tuple(t.shape))
    t = t.detach().cpu().to(torch.float32)
    if not bool(torch.isfinite(t).all()):
        raise ConfigError("calibration inputs", "contain NaN or inf")
    if input_bits:
        lo, hi = -(1 << (input_bits - 1)), (1 << (input_bits - 1)) - 1
        if not bool(((t == t.round()) & (t >= lo) & (t <= hi)).all()):
            raise ConfigError("calibration inputs", f"graded payloads must be integers in [{lo}, {hi}] "
                              f"({input_bits} bits)", remedy="encode them with spikedeploy.quant.graded_input")
    elif bool((t < 0).any()):
        raise ConfigError("calibration inputs", "contain negative values; Loihi's input is spikes (0/1)")
    return t


def plan_scales(spec: NetworkSpec, calib_inputs: Any, config: QuantConfig = QuantConfig(), *,
                batch_size: int = 128) -> dict[str, LayerScale]:
    """The per-layer :class:`LayerScale` plan :func:`quantize` would choose (calibration only)."""
    fp = load_chip(config.chip).require_fixed_point()
    x = _as_input(calib_inputs, spec, config.input_bits)
    trace = _float_run(spec, x if config.input_bits else (x > 0).to(torch.float32), batch_size)
    fixed = dict(config.plan or {})
    out = {}
    for i, layer in enumerate(spec.layers):
        out[layer.name] = fixed.get(layer.name) or _plan_layer(layer, trace.max_x[i], trace.max_u[i],
                                                               trace.max_v[i], config, fp)[0]
    return out


# ----------------------------------------------------------------------------- quantisation

def _rms(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(a, dtype=np.float64)))) if a.size else 0.0


def _quantize_layer(layer: LayerSpec, plan: LayerScale, limit: str, cal: tuple[float, float, float],
                    cfg: QuantConfig, fp: FixedPointSpec, problems: _Problems
                    ) -> tuple[LoihiLayer, LayerQuantReport]:
    name, lam = layer.name, float(plan.scale)
    mode, lo, hi, step, top = fx.float_weight_grid(layer.weight, cfg.num_weight_bits, fp)
    w_int, clipped = _quantize_weight(layer.weight, lam, plan.weight_exp, lo, hi, step, fp)
    unit = 2.0 ** (plan.weight_exp + fp.activation_shift) / lam
    chosen = cfg.weight_range == "mse" and limit != "plan"   # clipping chosen to minimise the error
    if clipped > cfg.max_clipped_fraction * layer.weight.size and not chosen:
        problems(name, "weight", f"{clipped} of {layer.weight.size} weights exceed the 8-bit grid at "
                                 f"weight_exp {plan.weight_exp} (scale {lam:.6g})",
                 f"those weights are clipped to [{lo}, {hi}] x {unit:.3g}",
                 "lower the scale or raise weight_exp (a larger max_clipped_fraction tolerates a few)")
    w_err = w_int * unit - layer.weight.astype(np.float64)
    zeroed = int(((layer.weight != 0) & (w_int == 0)).sum())
    rec_int, rec_clipped, rec_rms = None, 0, None
    if layer.rec_weight is not None:
        rmode, rlo, rhi, rstep, _ = fx.float_weight_grid(layer.rec_weight, cfg.num_weight_bits, fp)
        rexp = plan.rec_weight_exp if plan.rec_weight_exp is not None else plan.weight_exp
        rec_int, rec_clipped = _quantize_weight(layer.rec_weight, lam, rexp, rlo, rhi, rstep, fp)
        if rec_clipped > cfg.max_clipped_fraction * layer.rec_weight.size and not chosen:
            problems(name, "rec_weight", f"{rec_clipped} of {layer.rec_weight.size} recurrent weights exceed "
                                         f"the 8-bit grid at rec_weight_exp {rexp}",
                     "those weights are clipped", "lower the scale or raise rec_weight_exp")
        rec_rms = _rms(rec_int * 2.0 ** (rexp + fp.activation_shift) / lam - layer.rec_weight)
    du_i, dv_i = quantize_decays(layer.du, layer.dv, fp)
    du_err = float(np.max(np.abs((du_i + fp.current_decay_offset) / fp.decay_unity - layer.du))) if du_i.size else 0.0
    dv_err = float(np.max(np.abs((dv_i + fp.voltage_decay_offset) / fp.decay_unity - layer.dv))) if dv_i.size else 0.0
    vth_i, vth_rel = None, None
    if layer.spiking:
        vth_i = np.round(layer.vth.astype(np.float64) * lam / (1 << fp.threshold_shift))
        if np.any(vth_i > fp.threshold_max):
            problems(name, "vth", f"threshold mantissa {int(vth_i.max())} exceeds {fp.threshold_bits} bits "
                                  f"({fp.threshold_max}) at scale {lam:.6g}",
                     f"clamped to {fp.threshold_max}", "lower the scale (larger weight exponent headroom)")
        if np.any(vth_i < 1):
            problems(name, "vth", f"{int((vth_i < 1).sum())} threshold(s) round to 0 at scale {lam:.6g} "
                                  "(the neuron would fire whenever v > 0)",
                     "clamped to 1", "raise the scale (the weights are too large next to the thresholds)")
        vth_i = np.clip(vth_i, 1, fp.threshold_max).astype(np.int64)
        vth_rel = float(np.max(np.abs(vth_i * (1 << fp.threshold_shift) / lam - layer.vth) / layer.vth))
    be = plan.bias_exp
    mant = np.round(layer.bias.astype(np.float64) * lam / 2.0 ** be)
    if np.any(mant > fp.bias_mant_max) or np.any(mant < fp.bias_mant_min):
        problems(name, "bias", f"bias mantissa up to {int(np.abs(mant).max())} exceeds {fp.bias_mant_bits} bits "
                               f"at bias_exp {be}",
                 f"clipped to [{fp.bias_mant_min}, {fp.bias_mant_max}] << {be}", "lower the scale")
    mant = np.clip(mant, fp.bias_mant_min, fp.bias_mant_max).astype(np.int64)
    bias_err = float(np.max(np.abs(mant * 2.0 ** be / lam - layer.bias))) if mant.size else 0.0
    ll = LoihiLayer(name=name, weight=w_int, weight_exp=plan.weight_exp, du=du_i, dv=dv_i,
                    vth=vth_i, bias_mant=mant, bias_exp=be, spiking=layer.spiking,
                    rec_weight=rec_int, rec_weight_exp=(None if rec_int is None else
                                                        (plan.rec_weight_exp if plan.rec_weight_exp is not None
                                                         else plan.weight_exp)),
                    num_weight_bits=cfg.num_weight_bits, delays=layer.delays)
    mx, mu, mv = cal
    v_top = fp.voltage_limit if layer.spiking else (fp.threshold_max << fp.threshold_shift)
    rep = LayerQuantReport(
        name=name, spiking=layer.spiking, scale=lam, weight_exp=plan.weight_exp,
        rec_weight_exp=ll.rec_weight_exp, bias_exp=be, sign_mode=fx.sign_mode(w_int), limit=limit,
        weight_rms_error=_rms(w_err), weight_rel_rms_error=_rms(w_err) / max(_rms(layer.weight), 1e-30),
        weight_max_error=float(np.max(np.abs(w_err))) if w_err.size else 0.0,
        weights_clipped=clipped, weights_zeroed=zeroed,
        weight_range_used=float(np.max(np.abs(w_int))) / top if w_int.size else 0.0,
        rec_weight_rms_error=rec_rms, rec_weights_clipped=rec_clipped,
        du_max_error=du_err, dv_max_error=dv_err, vth_max_rel_error=vth_rel, bias_max_error=bias_err,
        decay_groups=len(ll.decay_groups()), calib_max_x=mx, calib_max_u=mu, calib_max_v=mv,
        a_in_frac=lam * mx / (1 << fp.activation_shift) / fp.activation_max,
        u_frac=lam * mu / fp.state_half, v_frac=lam * mv / v_top,
        v_clip_vth=fp.voltage_limit / lam / float(np.max(layer.vth)) if layer.spiking else None)
    return ll, rep


def quantize(spec: NetworkSpec, calib_inputs: Any, *, labels: Any = None,
             config: QuantConfig | None = None, allow_approx: bool | None = None,
             batch_size: int = 128, metadata: Mapping[str, Any] | None = None,
             verify: bool = True) -> tuple[LoihiNetwork, QuantReport]:
    """Quantise ``spec`` to Loihi integers, calibrated on ``calib_inputs`` ([B, T, in] spikes).

    Args:
        spec: the float network; every layer but the last must be spiking.
        calib_inputs: calibration samples (torch or numpy), binary spikes. Counts > 1
            are refused (strict) or clipped to 1 (``allow_approx``).
        labels: optional [B] class labels: the report then has float and emulator accuracy.
        config: :class:`QuantConfig` (headroom, tolerance, fixed plan, chip).
        allow_approx: overrides ``config.allow_approx``.
        batch_size: samples per calibration / emulator batch.
        metadata: plain data merged into the LoihiNetwork's metadata.
        verify: run the integer network in the emulator on the calibration samples and
            fill in the agreement and saturation columns (and their strict checks).

    Returns:
        ``(LoihiNetwork, QuantReport)``. The network's metadata holds ``quantizer``,
        ``readout`` (the spec's), ``n_steps`` (of the calibration samples), ``scales``
        ({layer: LayerScale.to_dict()}), ``readout_scale``, ``config`` and ``spec_metadata``.

    Raises:
        QuantizationError: a value that cannot be represented (strict mode), naming the
            layer and field.
    """
    if not isinstance(spec, NetworkSpec):
        raise ConfigError("spec", f"expected a NetworkSpec, got {type(spec).__name__}")
    cfg = config or QuantConfig()
    if allow_approx is not None:
        cfg = dataclasses.replace(cfg, allow_approx=bool(allow_approx))
    fp = load_chip(cfg.chip).require_fixed_point()
    problems = _Problems(cfg.allow_approx)
    for layer in spec.layers[:-1]:
        if not layer.spiking:
            raise QuantizationError(layer.name, "vth", "a non-spiking layer that is not the last: Loihi layers "
                                    "pass spikes on", remedy="only the readout (last layer) may be non-spiking")
    x = _as_input(calib_inputs, spec, cfg.input_bits)
    n_clipped = 0 if cfg.input_bits else int((x > 1).sum())
    xb = x if cfg.input_bits else (x > 0).to(torch.float32)
    if n_clipped:
        problems(spec.layers[0].name, "input", f"{n_clipped} calibration input entries are spike counts > 1 "
                                               f"(up to {int(x.max())}); Loihi's input spikes are binary",
                 "counts are clipped to 1 spike per step (the report gives the effect on the logits)",
                 "train on binary frames (binning binary = true) or bin finer in time")
    y = None
    if labels is not None:
        y = torch.as_tensor(np.asarray(labels)).reshape(-1).to(torch.int64)
        if y.shape[0] != x.shape[0]:
            raise ShapeMismatchError("labels", x.shape[0], y.shape[0])
    trace = _float_run(spec, xb, batch_size)
    fixed = dict(cfg.plan or {})
    unknown = sorted(set(fixed) - {l.name for l in spec.layers})
    if unknown:
        raise ConfigError("quant.plan", f"layers {unknown} are not in the network",
                          valid=[l.name for l in spec.layers])
    loihi_layers, reports, plans = [], [], {}
    for i, layer in enumerate(spec.layers):
        if layer.name in fixed:
            plan, limit = fixed[layer.name], "plan"
            if layer.rec_weight is None and plan.rec_weight_exp is not None:
                raise ConfigError(f"quant.plan[{layer.name!r}]", "rec_weight_exp given for a layer without recurrence")
        else:
            plan, limit = _plan_layer(layer, trace.max_x[i], trace.max_u[i], trace.max_v[i], cfg, fp)
        cal = (trace.max_x[i], trace.max_u[i], trace.max_v[i])
        ll, rep = _quantize_layer(layer, plan, limit, cal, cfg, fp, problems)
        for key, frac in (("a_in", rep.a_in_frac), ("u", rep.u_frac), ("v", rep.v_frac)):
            if key == "v" and layer.spiking and cfg.v_floor is not None and rep.v_clip_vth >= cfg.v_floor * (1 - 1e-9):
                continue   # saturating below -v_floor thresholds is the design (module docstring)
            if frac > 1:
                problems(layer.name, key, f"the calibration samples need {frac:.2f}x the datapath's range of {key} "
                                          f"at scale {plan.scale:.6g}",
                         "overflow/saturation on these inputs (see the emulator columns)", "lower the scale")
        loihi_layers.append(ll)
        reports.append(rep)
        plans[layer.name] = LayerScale(plan.scale, plan.weight_exp, plan.bias_exp, ll.rec_weight_exp)
    meta = {"quantizer": QUANTIZER, "readout": spec.readout, "n_steps": int(x.shape[1]),
            "scales": {k: v.to_dict() for k, v in plans.items()},
            "readout_scale": float(plans[spec.layers[-1].name].scale), "config": cfg.to_dict(),
            "dt": float(spec.dt), "spec_metadata": _plain(dict(spec.metadata))}
    meta.update(_plain(dict(metadata or {})))
    net = LoihiNetwork(input_size=spec.input_size, layers=tuple(loihi_layers), chip=cfg.chip, metadata=meta,
                       input_bits=cfg.input_bits)
    report = QuantReport(layers=reports, n_samples=int(x.shape[0]), n_steps=int(x.shape[1]),
                         readout=spec.readout, config=cfg.to_dict(), input_clipped=n_clipped)
    if n_clipped:
        float_orig = _float_run(spec, x, batch_size).logits
        report.input_binarization_logit_agreement = float((float_orig.argmax(1) == trace.logits.argmax(1))
                                                          .float().mean())
        if y is not None:
            report.accuracy_float = float((float_orig.argmax(1) == y).float().mean())
    elif y is not None:
        report.accuracy_float = float((trace.logits.argmax(1) == y).float().mean())
    if verify:
        _verify(net, spec, xb, trace, report, problems, fp, batch_size, y, cfg)
    report.approximations = list(problems.notes)
    return net, report


def _plain(d: Any) -> Any:
    """Metadata as JSON-able plain data (numpy arrays -> lists)."""
    if isinstance(d, Mapping):
        return {str(k): _plain(v) for k, v in d.items()}
    if isinstance(d, (list, tuple)):
        return [_plain(v) for v in d]
    if isinstance(d, np.ndarray):
        return d.tolist()
    if isinstance(d, np.generic):
        return d.item()
    return d


def _verify(net: LoihiNetwork, spec: NetworkSpec, xb: torch.Tensor, trace: _FloatTrace, report: QuantReport,
            problems: _Problems, fp: FixedPointSpec, batch_size: int, y: torch.Tensor | None,
            cfg: QuantConfig) -> None:
    """Emulate the integer network on the calibration samples; fill in the report's emulator columns."""
    L = len(spec.layers)
    agree = [0] * L
    n_el = [0] * L
    rate_e = [0.0] * L
    verr = [0.0] * L
    u_max = [0] * L
    near_wrap = [0] * L
    v_max = [0] * L
    v_sat = [0] * L
    ovf_a = [0] * L
    ovf_r = [0] * L
    emu_logits = []
    wrap_zone = fp.state_half - (fp.activation_max + 1 << fp.activation_shift)
    for b0 in range(0, xb.shape[0], batch_size):
        xs = xb[b0:b0 + batch_size]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = emulate(net, xs.to(torch.int64 if net.graded_input else torch.uint8), record=("s", "v", "u"),
                          on_overflow="ignore")
        for i, layer in enumerate(spec.layers):
            name = layer.name
            lam = report.layers[i].scale
            s_e = res.spikes[name]
            v_e = res.voltage[name]
            u_e = res.current[name]
            v_f = trace.voltage[i][b0:b0 + batch_size].to(torch.float64)
            if layer.spiking:
                s_f = trace.spikes[i][b0:b0 + batch_size]
                agree[i] += int((s_e == s_f).sum())
                rate_e[i] += float(s_e.float().sum())
                vth = torch.as_tensor(layer.vth, dtype=torch.float64)
                # Compared with the float voltage saturated where the integer one saturates by design.
                v_f = v_f.clamp_min(-fp.voltage_limit / lam)
                verr[i] += float((((v_e.to(torch.float64) / lam) - v_f) / vth).square().sum())
            else:
                verr[i] += float(((v_e.to(torch.float64) / lam) - v_f).square().sum())
            n_el[i] += s_e.numel()
            u_max[i] = max(u_max[i], int(u_e.abs().max()))
            near_wrap[i] += int((u_e.abs() >= wrap_zone).sum())
            v_max[i] = max(v_max[i], int(v_e.abs().max()))
            v_sat[i] += int((v_e.abs() >= fp.voltage_limit).sum())
            ovf_a[i] += int(res.overflow[name]["a_in"])
            ovf_r[i] += int(res.overflow[name]["readout_spikes"])
        emu_logits.append(reduce_readout(spec.readout, res.voltage[spec.layers[-1].name].to(torch.float64))
                          / report.layers[-1].scale)
    for i, layer in enumerate(spec.layers):
        r = report.layers[i]
        r.emu_a_in_overflow, r.emu_readout_overflow = ovf_a[i], ovf_r[i]
        r.emu_u_max_frac, r.emu_u_near_wrap = u_max[i] / fp.state_half, near_wrap[i]
        r.emu_v_max_frac, r.emu_v_saturated = v_max[i] / fp.voltage_limit, v_sat[i]
        if layer.spiking:
            r.spike_agreement = agree[i] / n_el[i]
            r.rate_float = float(trace.spikes[i].float().mean())
            r.rate_emulator = rate_e[i] / n_el[i]
            r.v_rms_error_vth = math.sqrt(verr[i] / n_el[i])
        else:
            scale_v = float(trace.voltage[i].abs().max())
            r.readout_rel_error = math.sqrt(verr[i] / n_el[i]) / max(scale_v, 1e-30)
        checks = (("a_in", ovf_a[i], f"{ovf_a[i]} synaptic input(s) outside {fp.activation_bits} bits"),
                  ("u", near_wrap[i], f"|u| came within 2^{fp.activation_bits + fp.activation_shift - 1} of the "
                                      f"24-bit wrap {near_wrap[i]} time(s) (a wrap cannot be excluded)"),
                  ("v", 0 if (layer.spiking and cfg.v_floor is not None and r.v_clip_vth >= cfg.v_floor * (1 - 1e-9))
                   else v_sat[i], f"v saturated at +-{fp.voltage_limit} {v_sat[i]} time(s)"),
                  ("v", ovf_r[i], f"the non-spiking readout reached its threshold {ovf_r[i]} time(s)"))
        for key, count, text in checks:
            if count:
                problems(layer.name, key, f"on the calibration samples in the emulator: {text}",
                         "the integer network departs from the float one there (see the report)",
                         "raise the headroom (QuantConfig.headroom) or lower the scale")
    e_logits = torch.cat(emu_logits)
    f_logits = trace.logits.to(torch.float64)
    report.logit_agreement = float((e_logits.argmax(1) == f_logits.argmax(1)).float().mean())
    report.logit_max_abs_error = float((e_logits - f_logits).abs().max())
    report.logit_rel_error = float((e_logits - f_logits).square().mean().sqrt()
                                   / f_logits.square().mean().sqrt().clamp_min(1e-30))
    if y is not None:
        report.accuracy_emulator = float((e_logits.argmax(1) == y).float().mean())
