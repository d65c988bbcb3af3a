"""Export profiles: the NIR graph each consumer reads as we mean it (``export-nir --for NAME``).

The standard form (``nir``, the default) is exact for any reader that follows NIR
(docs/nir-conventions.md); the peers' importers bend it, so each has a profile (one small
function, registry :data:`PROFILES`) that writes what that importer reads correctly, or
refuses with the reason when it cannot express the model:

- ``snntorch`` (snntorch 1.0 ``import_from_nir``): time constants for its fixed step
  ``dt = 1e-4`` with ``r = tau / dt`` (``w_in = tau_syn / dt``) so that it scales nothing;
  one threshold per layer (it refuses per-neuron thresholds), made exact by dividing each
  neuron's weights and bias by its threshold (a reset-to-zero neuron is linear below
  threshold: the same spikes with threshold 1). Refused: recurrent layers (its import
  rewrites the loop into a subgraph whose Input feeds the recurrent weight instead of the
  neuron: 86.5 % of a recurrent LIF graph's hidden spikes agreed), IF layers (it imports IF
  as ``Leaky(beta = 0.9)``) and CUBA layers with a voltage bias (it requires ``v_leak = 0``).
- ``norse`` (norse 1.1 ``from_nir(graph, dt)``): the input gain in the synapse (``r = w_in =
  1``, weights divided by ``du dv``), since norse ignores ``r``. Refused: CUBA layers with a
  voltage bias (norse's synapse also leaks toward ``v_leak``).

- ``rockpool`` (rockpool 3.1 ``from_nir``) and ``sinabs`` (sinabs 3.1 ``from_nir``): refused for
  every spiking layer. Both import a spiking neuron as one that emits ``floor(v / threshold)``
  spikes per step and subtracts them (rockpool's ``LIFTorch``, sinabs' ``LIFSqueeze`` /
  ``IAFSqueeze`` with their default ``MultiSpike`` and ``MembraneSubtract``), and NIR has no
  field that changes this; spikedeploy's neurons reset to zero (Loihi's reset) and spike at most
  once per step, so no graph makes them compute ours. What else each gets wrong is written
  down in docs/nir-conventions.md 7c (rockpool cannot read ``nir.LIF`` at all).
- ``lava``: Lava (lava-nc 0.10) has no NIR importer of its own; the Lava consumer is
  ``spikedeploy lava-run``, which reads the standard form: ``--for lava`` writes it (with the
  Loihi integers when ``--quantized``), and says so.

Neither snnTorch nor norse reads a leaky-integrator (LI / I / CubaLI) readout, so their graphs end at the
readout's synapse: their output is ``W s_t + b`` per step, which the user integrates
(``v_t = (1 - dv) v_{t-1} + W s_t + b``, the notes give ``dv``; for the ``mean`` readout the
logits are its mean over time). Profile graphs carry ``spikedeploy.profile``; our own
readers refuse to run them (their readout is left out).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, NoReturn

import numpy as np

from ..errors import ConversionError
from ..netspec import LayerSpec, NetworkSpec

#: snnTorch's fixed step (``import_nir.py``: ``dt = 1e-4``).
SNNTORCH_DT = 1e-4


@dataclass(frozen=True)
class Prepared:
    """What to write for a consumer: the (equivalent) spec, the input gain, the step the
    continuous parameters are written for, whether the readout neuron is written, and notes."""

    spec: NetworkSpec
    input_gain: str
    param_dt: float
    readout_neuron: bool = True
    notes: tuple[str, ...] = ()


#: Consumers that read the standard form (our readers and Lava; integers allowed).
STANDARD_FORM = frozenset({"nir", "lava"})


def _hidden(spec: NetworkSpec) -> tuple[LayerSpec, ...]:
    return tuple(layer for layer in spec.layers if layer.spiking)


def _readout_note(spec: NetworkSpec, consumer: str) -> str:
    r = spec.layers[-1]
    dv = np.unique(r.dv)
    what = ("its mean over time is the logits" if spec.readout == "mean" else
            f"integrate it as v_t = (1 - dv) v_(t-1) + out_t with dv = {', '.join(f'{d:g}' for d in dv[:4])}"
            f"{' ...' if dv.size > 4 else ''} and take the {spec.readout} over time for the logits")
    return (f"{consumer} reads no leaky-integrator readout: the graph ends at the readout's synapse, "
            f"whose output per step is W s_t + b; {what}")


def _refuse_cuba_bias(spec: NetworkSpec, consumer: str, why: str) -> None:
    for layer in spec.layers:
        if np.any(layer.du < 1) and np.any(layer.bias != 0):
            raise ConversionError(layer.name, "layer", f"a voltage bias on a current-based layer: {consumer} "
                                  f"{why}", remedy="export it for nir or lava, or train without a bias")


def _unit_thresholds(layer: LayerSpec) -> tuple[LayerSpec, bool]:
    """The same spikes with threshold 1: each neuron's inputs and bias divided by its threshold."""
    if layer.vth is None or np.all(layer.vth == layer.vth[0]) and layer.vth[0] == 1:
        return layer, False
    s = layer.vth.astype(np.float64)
    rows = lambda a: None if a is None else (a.astype(np.float64) / s[:, None]).astype(np.float32)  # noqa: E731
    return dataclasses.replace(layer, weight=rows(layer.weight), bias=(layer.bias / s).astype(np.float32),
                               rec_weight=rows(layer.rec_weight), vth=np.ones_like(layer.vth)), True


def _snntorch(spec: NetworkSpec) -> Prepared:
    for layer in _hidden(spec):
        if layer.recurrent:
            raise ConversionError(layer.name, "layer", "a recurrent layer: snnTorch 1.0's import_from_nir rewrites "
                                  "a neuron <-> weight loop into a subgraph whose Input feeds the recurrent weight "
                                  "instead of the neuron (import_nir._create_rnn_subgraph), so the layer's input "
                                  "passes through W_rec (measured: 86.5 % of export/lif-shd.nir's hidden spikes equal)",
                                  remedy="export a feed-forward network for snntorch, or use --for norse / nir")
        if np.all(layer.dv == 0):
            raise ConversionError(layer.name, "layer", "an IF layer: snnTorch 1.0 imports IF as Leaky(beta = 0.9)",
                                  remedy="give the layer a small leak, or use --for norse / nir")
    _refuse_cuba_bias(spec, "snnTorch", "requires v_leak = 0")
    layers, scaled = [], []
    for layer in spec.layers:
        new, changed = _unit_thresholds(layer)
        layers.append(new)
        if changed:
            scaled.append(layer.name)
    notes = [f"time constants written for snnTorch's fixed step dt = {SNNTORCH_DT:g} s (the discrete decays are "
             "the model's)", _readout_note(spec, "snnTorch")]
    if scaled:
        notes.append(f"thresholds made 1 (snnTorch takes one per layer) by dividing each neuron's weights and bias by "
                     f"its threshold, in {', '.join(scaled)}: the same spikes")
    return Prepared(dataclasses.replace(spec, layers=tuple(layers)), "neuron", SNNTORCH_DT, False, tuple(notes))


def _norse(spec: NetworkSpec) -> Prepared:
    _refuse_cuba_bias(spec, "norse", "leaks its synapse toward v_leak too")
    notes = [f"the input gain is in the synapse (norse ignores r); read it with norse.torch.from_nir(graph, "
             f"dt={spec.dt:g})", _readout_note(spec, "norse")]
    return Prepared(spec, "synapse", float(spec.dt), False, tuple(notes))


def _refuse(spec: NetworkSpec, consumer: str, neuron: str, readout: str) -> NoReturn:
    """Every spiking layer is refused (multi-spike, subtractive reset); a readout-only network on
    the consumer's reading of LI."""
    remedy = "export for nir (Lava, spikedeploy), norse or snntorch"
    hidden = _hidden(spec)
    if not hidden:
        raise ConversionError(spec.layers[-1].name, "layer", f"{consumer} {readout}", remedy=remedy)
    raise ConversionError(hidden[0].name, "layer", f"{consumer} imports a spiking neuron as {neuron}, which emits "
                          "floor(v / threshold) spikes per step and subtracts them from v; NIR has no field that "
                          "changes this, and this layer resets to zero and spikes at most once per step (Loihi's "
                          "neuron), so no graph makes it compute ours (docs/nir-conventions.md 7c)", remedy=remedy)


def _rockpool(spec: NetworkSpec) -> Prepared:
    _refuse(spec, "rockpool 3.1's from_nir", "LIFTorch (from CubaLIF; it cannot read nir.LIF at all)",
            "imports LI as ExpSynTorch with tau cast to an integer (0 for any tau under 1 s)")


def _sinabs(spec: NetworkSpec) -> Prepared:
    _refuse(spec, "sinabs 3.1's from_nir", "LIFSqueeze / IAFSqueeze with MultiSpike and MembraneSubtract (tau read "
            "in steps, r ignored; a CubaLIF node dropped silently)",
            "refuses an LI readout whose r is not 1 and reads its tau in steps")


def _nir(spec: NetworkSpec) -> Prepared:
    return Prepared(spec, "neuron", float(spec.dt))


def _lava(spec: NetworkSpec) -> Prepared:
    return Prepared(spec, "neuron", float(spec.dt), notes=(
        "Lava (lava-nc 0.10) has no NIR importer of its own; spikedeploy lava-run is the Lava consumer and reads "
        "the standard form, which is what was written (the same file as --for nir)",))


def _no_delays(consumer: str, prepare: Callable[[NetworkSpec], Prepared]) -> Callable[[NetworkSpec], Prepared]:
    """``prepare``, refusing a layer with delayed taps first: no other consumer's reading of
    NIR Delay nodes has been measured (``spikedeploy.delays``)."""
    def checked(spec: NetworkSpec) -> Prepared:
        for layer in spec.layers:
            if layer.delayed:
                raise ConversionError(layer.name, "layer", f"has synaptic delays {list(layer.delays)} (a conv2d "
                                      f"layer's time taps, written as NIR Delay nodes); how {consumer} imports "
                                      "Delay nodes has not been measured", remedy="export for nir or lava")
        return prepare(spec)
    return checked


#: Consumers by ``--for`` name (one line each).
PROFILES: dict[str, Callable[[NetworkSpec], Prepared]] = {
    "nir": _nir, "lava": _lava, "snntorch": _no_delays("snntorch", _snntorch), "norse": _no_delays("norse", _norse),
    "rockpool": _no_delays("rockpool", _rockpool), "sinabs": _no_delays("sinabs", _sinabs)}
