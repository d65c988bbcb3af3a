"""Quantisation-aware fine-tuning (QAT) on the integer grid of a post-training quantisation plan.

:func:`qat_finetune` fine-tunes a trained model with its weights, decays,
thresholds and biases fake-quantised to the integer grid of a fixed
:class:`LayerScale` plan in the forward pass (straight-through rounding), then
:func:`quantize` with the same plan gives the integers the fine-tuning saw.
The fake quantisers round in float64 in the exact quantiser's order
(:mod:`.ptq`), so both give the same integers.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
from torch.nn.utils import parametrize

from ..hardware import FixedPointSpec, load_chip
from ..models.readout import LIReadout
from ..models.to_spec import READOUT_NAME, hidden_name, model_to_spec
from ..training.config import TrainConfig
from ..training.loop import fit
from . import fixed_point as fx
from .ptq import LayerScale, QuantConfig, plan_scales


def _ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Forward ``q``, backward identity (straight-through)."""
    return x + (q - x).detach()


class _FakeGrid(torch.nn.Module):
    """Fake-quantise onto ``k * div / mul``, k integer multiples of ``step`` clamped to [lo, hi].

    The arithmetic is the exact quantiser's, in float64 and in the same order
    (``round(x * mul / div / step) * step``), so both give the same integers.
    """

    def __init__(self, mul: float, div: float, lo: float, hi: float, step: float = 1.0):
        super().__init__()
        self.mul, self.div = float(mul), float(div)
        self.lo, self.hi, self.step = float(lo), float(hi), float(step)

    @property
    def range(self) -> tuple[float, float]:
        """The float values of the lowest and highest grid points."""
        return self.lo * self.div / self.mul, self.hi * self.div / self.mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            k = torch.round(x.to(torch.float64) * self.mul / self.div / self.step) * self.step
            q = (k.clamp(self.lo, self.hi) * self.div / self.mul).to(x.dtype)
        return _ste(x, q)


class _FakeRaw(torch.nn.Module):
    """Fake-quantise a raw parameter through its parametrisation ``g`` (sigmoid, softplus)."""

    def __init__(self, g: Callable, g_inv: Callable, grid: _FakeGrid):
        super().__init__()
        self.g, self.g_inv, self.grid = g, g_inv, grid

    def raw_range(self) -> tuple[float, float]:
        lo, hi = self.grid.range
        return float(self.g_inv(torch.tensor(lo))), float(self.g_inv(torch.tensor(hi)))

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self.g_inv(self.grid(self.g(raw)).to(torch.float64))
        return _ste(raw, target.to(raw.dtype))


def _logit(p: torch.Tensor) -> torch.Tensor:
    p = p.to(torch.float64).clamp(1e-7, 1 - 1e-7)
    return torch.log(p / (1 - p))


def _inv_softplus(y: torch.Tensor) -> torch.Tensor:
    y = y.to(torch.float64).clamp_min(1e-12)
    return torch.where(y > 20, y, torch.log(torch.expm1(y)))


def _weight_grid_module(w: torch.Tensor, scale: float, exp: int, num_weight_bits: int,
                        fp: FixedPointSpec) -> _FakeGrid:
    _, lo, hi, step, _ = fx.float_weight_grid(w.detach().cpu().numpy(), num_weight_bits, fp)
    return _FakeGrid(scale, 2.0 ** (exp + fp.activation_shift), lo, hi, step)


def _qat_modules(model: torch.nn.Module, plan: Mapping[str, LayerScale], num_weight_bits: int,
                 fp: FixedPointSpec) -> list[tuple[torch.nn.Module, str, torch.nn.Module]]:
    """(module, parameter name, parametrisation) for every value that gets fake-quantised."""
    unity = float(fp.decay_unity)
    du_grid = _FakeGrid(unity, 1.0, fp.current_decay_offset, fp.decay_max + fp.current_decay_offset)
    dv_grid = _FakeGrid(unity, 1.0, fp.voltage_decay_offset, fp.decay_max + fp.voltage_decay_offset)
    sig = torch.sigmoid
    out = []

    def bias_grid(scale: float, be: int) -> _FakeGrid:
        return _FakeGrid(scale, 2.0 ** be, fp.bias_mant_min, fp.bias_mant_max)

    for k, layer in enumerate(model.layers):
        p = plan[hidden_name(k)]
        n = layer.neuron
        out.append((layer.synapse, "weight", _weight_grid_module(layer.synapse.weight, p.scale, p.weight_exp,
                                                                 num_weight_bits, fp)))
        if n.recurrent is not None:
            rexp = p.rec_weight_exp if p.rec_weight_exp is not None else p.weight_exp
            out.append((n.recurrent, "weight", _weight_grid_module(n.recurrent.weight, p.scale, rexp,
                                                                   num_weight_bits, fp)))
        if getattr(n, "du_raw", None) is not None:
            out.append((n, "du_raw", _FakeRaw(sig, _logit, du_grid)))
        out.append((n, "dv_raw", _FakeRaw(sig, _logit, dv_grid)))
        out.append((n, "vth_raw", _FakeRaw(torch.nn.functional.softplus, _inv_softplus,
                                           _FakeGrid(p.scale, float(1 << fp.threshold_shift), 1,
                                                     fp.threshold_max))))
        if n.bias is not None:
            out.append((n, "bias", bias_grid(p.scale, p.bias_exp)))
    p = plan[READOUT_NAME]
    r = model.readout
    out.append((r.synapse, "weight", _weight_grid_module(r.synapse.weight, p.scale, p.weight_exp,
                                                         num_weight_bits, fp)))
    if isinstance(r, LIReadout):
        out.append((r.neuron, "dv_raw", _FakeRaw(sig, _logit, dv_grid)))
        out.append((r.neuron, "bias", bias_grid(p.scale, p.bias_exp)))
    else:
        out.append((r, "bias", bias_grid(p.scale, p.bias_exp)))
    return out


@dataclass
class QATResult:
    """What :func:`qat_finetune` returns: the fine-tuned float model (latent weights, clamped
    to the representable range), the plan to quantise it with, and the training history."""

    model: torch.nn.Module
    plan: dict[str, LayerScale]
    history: list[dict[str, Any]]
    best_val_acc: float
    best_epoch: int


def fake_quantized(model: torch.nn.Module, plan: Mapping[str, LayerScale], *, num_weight_bits: int = 8,
                   chip: str = "loihi2") -> torch.nn.Module:
    """A deep copy of ``model`` whose forward pass sees every weight, decay, threshold and bias
    on the integer grid of ``plan`` (straight-through rounding; ``torch.nn.utils.parametrize``).
    The original model is not changed."""
    fp = load_chip(chip).require_fixed_point()
    fq = copy.deepcopy(getattr(model, "module", model))
    for module, name, param in _qat_modules(fq, plan, num_weight_bits, fp):
        parametrize.register_parametrization(module, name, param)
    return fq


def qat_finetune(model: torch.nn.Module, train: Any, val: Any, calib_inputs: Any, *,
                 epochs: int = 3, lr: float = 2e-4, batch_size: int = 64, seed: int = 0,
                 config: QuantConfig | None = None, plan: Mapping[str, LayerScale] | None = None,
                 progress: bool = True, log: Callable[[str], None] | None = None) -> QATResult:
    """Quantisation-aware fine-tuning of a trained LIF / CUBA-LIF model.

    The plan (scales and exponents) is calibrated once on ``calib_inputs`` (or given);
    the model is fine-tuned for ``epochs`` with every value fake-quantised to that
    plan's integer grid in the forward pass (straight-through gradients), keeping the
    epoch of best validation accuracy (``spikedeploy.training.loop.fit``: Adam, early
    stopping). ``train`` / ``val`` are :class:`~spikedeploy.training.loop.TensorData`.
    The returned model holds the latent float values, clamped into the grid's range,
    so ``quantize(model_to_spec(result.model), ..., config=QuantConfig(plan=result.plan))``
    reproduces exactly the integers the fine-tuning saw. The input model is not changed.
    """
    cfg = config or QuantConfig()
    fp = load_chip(cfg.chip).require_fixed_point()
    base = getattr(model, "module", model)
    spec = model_to_spec(base)
    if plan is None:
        plan = plan_scales(spec, calib_inputs, cfg)
    plan = {k: (v if isinstance(v, LayerScale) else LayerScale.from_dict(v)) for k, v in dict(plan).items()}
    fq = fake_quantized(base, plan, num_weight_bits=cfg.num_weight_bits, chip=cfg.chip)
    tcfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, early_stop_patience=0,
                       lr_patience=max(epochs, 1))
    result = fit(fq, train, val, tcfg, progress=progress, log=log)
    fq.load_state_dict(result.best_state)
    # Clamp the latent values into the grid's range (the forward pass clipped them there),
    # then drop the parametrisations, keeping the latent float values.
    with torch.no_grad():
        for module in list(fq.modules()):
            if not parametrize.is_parametrized(module):
                continue
            for name in list(module.parametrizations.keys()):
                plist = module.parametrizations[name]
                latent = plist.original
                for p in plist:
                    lo, hi = p.range if isinstance(p, _FakeGrid) else p.raw_range()
                    latent.copy_(latent.clamp(lo, hi))
                parametrize.remove_parametrizations(module, name, leave_parametrized=False)
    fq.eval()
    return QATResult(fq, plan, result.history, result.best_val_acc, result.best_epoch)
