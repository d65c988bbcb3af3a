"""Trained network -> :class:`~spikedeploy.netspec.NetworkSpec` (the float hand-over description).

Reads a :class:`~spikedeploy.models.networks.SpikingNetwork` whose hidden layers are
LIF or CUBA-LIF neurons (with or without recurrence), including the networks the GPN
fold (``spikedeploy fold``) produces, which are CUBA-LIF / LIF networks of the same
classes. Nothing is copied by hand: every value comes from the model's own
``neuron_params()`` (the effective per-neuron ``du``, ``dv``, ``vth``, ``bias``), the
synapses' ``weight`` and the recurrent ``nn.Linear``.

Layer ``k`` of the model becomes spec layer ``hidden<k>``; the readout becomes the
non-spiking layer ``readout`` (the names :func:`spikedeploy.metrics.records.layers_from_model`
uses too)::

    hidden<k>:  weight = layers[k].synapse.weight          [size, n_in]
                rec_weight = layers[k].recurrent.weight    (recurrent layers)
                du, dv, vth, bias = layers[k].neuron_params()   (LIF: du = 1)
    readout:    weight = readout.synapse.weight, du = 1, vth None
                LI readout:          dv, bias from neuron_params(), spec readout "max" / "last"
                mean-linear readout: dv = 0 (a perfect integrator), bias b, spec readout "mean"

A synapse bias ``b`` (``config.synapse_bias``, the GPN presets' ``nn.Linear`` bias) is
exact to move into the neuron bias when ``du = 1`` (``u_t = W x_t + b``, and ``u``
enters ``v`` once per step). With ``du < 1`` it is a constant input current filtered by
the current decay, which Loihi's neuron has no place for; such a layer is refused
(:class:`~spikedeploy.errors.ConversionError`). Unfolded GPN, s2net and pr-v2 layers
have no Loihi LIF form and are refused too, with the hint to run ``spikedeploy fold``
first (it turns each into LIF / CUBA-LIF layers).

The reader is pure: it never changes the model. With the model in evaluation mode,
``SpecNetwork(model_to_spec(model))(x)`` equals ``model(x)`` at float32 tolerance
(bit for bit for the LI readouts; the mean readout sums over time where the model
averages spikes first).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch

from ..errors import ConfigError, ConversionError
from ..netspec import LayerSpec, NetworkSpec
from .networks import SpikingNetwork
from .readout import LIReadout, MeanLinearReadout

#: Hidden neuron kinds that are Loihi's LIF neuron (possibly with du = 1).
LOIHI_KINDS = ("lif", "cuba-lif")
#: Source tag written into the spec's metadata.
SOURCE = "spikedeploy.models.to_spec/1"

_FOLD_REMEDY = ("run `spikedeploy fold` on the checkpoint first: it folds the neuron into per-neuron "
                "LIF/CUBA-LIF parameters that Loihi can run; then export the folded checkpoint")
#: Neuron kinds that ``spikedeploy fold`` turns into LIF / CUBA-LIF (why each needs it).
FOLDABLE_KINDS = {
    "s2net": "its reset and lateral inhibition read the synaptic weight (D = W W^T), which Loihi's neuron "
             "cannot; as weights they are a LIF layer's recurrent connection",
    "pr-v2": "its sigmoid forget gate, ReLU candidate and multi-bit graded outputs have no Loihi LIF form",
}


def hidden_name(k: int) -> str:
    """Spec name of the model's hidden layer ``k`` (0 = input side)."""
    return f"hidden{k}"


READOUT_NAME = "readout"


def _array(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float32).numpy().copy()


def _check_finite(name: str, field: str, arr: np.ndarray) -> None:
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.isfinite(arr).sum())
        raise ConfigError(f"layer {name!r} field {field}", f"{bad} value(s) are NaN or inf",
                          remedy="retrain or repair the model; non-finite parameters cannot be deployed")


def _hidden_layer(k: int, layer: Any) -> LayerSpec:
    name = hidden_name(k)
    kind = getattr(layer, "kind", type(layer).__name__)
    if kind == "gpn":
        raise ConversionError(name, "gpn", "an unfolded GPN layer: its gates need a dense real-valued "
                              "matrix-vector product every step, which Loihi's LIF neuron cannot run",
                              remedy=_FOLD_REMEDY)
    if kind in FOLDABLE_KINDS:
        raise ConversionError(name, str(kind), f"a {kind!r} layer: {FOLDABLE_KINDS[kind]}", remedy=_FOLD_REMEDY)
    if kind not in LOIHI_KINDS:
        raise ConversionError(name, str(kind), f"the {kind!r} neuron has no Loihi LIF form",
                              remedy=f"deploy a network of {' or '.join(LOIHI_KINDS)} neurons")
    if getattr(layer.neuron, "reset", "zero") != "zero":
        raise ConversionError(name, str(kind), f"reset {layer.neuron.reset!r}: Loihi's neuron resets to zero",
                              remedy=_FOLD_REMEDY)
    p = {key: _array(v) for key, v in layer.neuron_params().items()}
    weight = _array(layer.synapse.weight)
    _check_finite(name, "weight", weight)
    for key in ("du", "dv", "vth", "bias"):
        _check_finite(name, key, p[key])
    bias = p["bias"].astype(np.float64)
    syn_bias = getattr(layer.synapse, "bias", None)
    if syn_bias is not None:
        b = _array(syn_bias)
        _check_finite(name, "synapse bias", b)
        moving = b != 0
        if np.any(moving & (p["du"] != 1)):
            idx = np.flatnonzero(moving & (p["du"] != 1))
            raise ConversionError(name, str(kind),
                                  f"a synapse bias on neurons with du < 1 ({idx.size} neuron(s), e.g. {idx[0]}): "
                                  "a constant current filtered by the current decay has no place in Loihi's "
                                  "neuron (only a voltage bias)",
                                  remedy="run `spikedeploy fold` (it moves the bias to the voltage, an "
                                         "approximation it reports), or train without synapse_bias")
        bias = bias + b.astype(np.float64)
    rec = layer.recurrent
    rec_weight = None if rec is None else _array(rec.weight)
    if rec_weight is not None:
        _check_finite(name, "rec_weight", rec_weight)
    # float32(b_neuron + b_synapse) is what float32 arithmetic (x + b) + bias approximates;
    # with no synapse bias this is the neuron bias unchanged.
    return LayerSpec(name=name, weight=weight, du=p["du"], dv=p["dv"], vth=p["vth"],
                     bias=bias.astype(np.float32), rec_weight=rec_weight)


def readout_layer(readout: Any) -> tuple[LayerSpec, str]:
    """The readout module (MeanLinearReadout or LIReadout) as the spec's readout layer and mode."""
    weight = _array(readout.synapse.weight)
    _check_finite(READOUT_NAME, "weight", weight)
    p = {key: _array(v) for key, v in readout.neuron_params().items()}
    for key in ("dv", "bias"):
        _check_finite(READOUT_NAME, key, p[key])
    if isinstance(readout, MeanLinearReadout):
        mode = "mean"
    elif isinstance(readout, LIReadout):
        mode = readout.reduce
    else:
        raise ConversionError(READOUT_NAME, type(readout).__name__, "unknown readout module",
                              remedy="use the 'li' or 'mean-linear' readout")
    n = weight.shape[0]
    return LayerSpec(name=READOUT_NAME, weight=weight, du=np.ones(n, np.float32), dv=p["dv"], vth=None,
                     bias=p["bias"]), mode


def model_to_spec(model: torch.nn.Module, *, dt: float | None = None,
                  metadata: Mapping[str, Any] | None = None) -> NetworkSpec:
    """The NetworkSpec of a trained LIF / CUBA-LIF network (module docstring).

    Args:
        model: a SpikingNetwork (or one wrapped in DistributedDataParallel).
        dt: seconds per step (the binning's ``duration / n_steps``); default 1e-3
            (NetworkSpec's default) when unknown.
        metadata: plain data merged into the spec's metadata (which records the
            model config and the source).

    Raises:
        ConversionError: an unfolded GPN (remedy: ``spikedeploy fold``), another neuron
            kind without a Loihi form, or a synapse bias on a ``du < 1`` layer.
        ConfigError: NaN or inf parameters (naming the layer and field).
    """
    net = getattr(model, "module", model)
    if not isinstance(net, SpikingNetwork):
        raise ConfigError("model", f"expected a SpikingNetwork, got {type(net).__name__}")
    layers = [_hidden_layer(k, layer) for k, layer in enumerate(net.layers)]
    readout, mode = readout_layer(net.readout)
    layers.append(readout)
    meta: dict[str, Any] = {"source": SOURCE, "model_config": net.config.to_dict()}
    meta.update(dict(metadata or {}))
    return NetworkSpec(input_size=net.config.input_size, layers=tuple(layers), readout=mode,
                       dt=1e-3 if dt is None else float(dt), metadata=meta)
