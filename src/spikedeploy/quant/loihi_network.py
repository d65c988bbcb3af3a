"""The integer network: what runs on Loihi, as plain validated data.

A :class:`LoihiNetwork` is the pivot of the back end. The quantiser produces one
from a float :class:`~spikedeploy.netspec.NetworkSpec`; the NIR exporter stores it
(:meth:`LoihiNetwork.to_dict`, plain numpy arrays); the emulator
(``spikedeploy.quant.emulator``) and the Lava builder (``spikedeploy.lava_backend``)
both run it, and must agree bit for bit.

Each :class:`LoihiLayer` is one Dense (+ optional recurrent Dense) feeding one
population of Lava ``LIF`` neurons. Per step, all integers (widths from the chip
profile, ``hardware/loihi2.toml``)::

    a_in = sum_P scale(W[:, P] @ s_in[P], weight_exp) + sum_Q scale(W_rec[:, Q] @ s_prev[Q], rec_weight_exp)
           scale(x, e) = x << e (e > 0) or x >> -e (arithmetic, floor)
    u    = wrap24(decay0(u, du + 1) + (a_in << 6))      decay0: rounds toward zero
    v    = clip24(decay0(v, dv) + u + (bias_mant << bias_exp))
    s    = v > (vth << 6) ;  v = 0 where s

The parts P are the source's Lava ports: the whole input for the first layer,
the previous layer's decay groups otherwise (Q: this layer's decay groups). Lava
applies a negative exponent to each connection's partial sum, so with
``weight_exp < 0`` the floor is taken per part; with ``weight_exp >= 0`` the
shift is linear and the parts do not matter
(:func:`spikedeploy.quant.emulator.source_parts`).

Field conventions:

* ``weight`` [out, in] and ``rec_weight`` [out, out]: the integers Lava's bit-
  accurate Dense multiplies with, i.e. already on Dense's grid for the matrix's
  sign mode and ``num_weight_bits`` (mixed sign, 8 bits: even integers in
  [-256, 254]; all >= 0: [0, 255]; all <= 0: [-255, 0]; see
  :func:`~spikedeploy.quant.fixed_point.weight_grid`). A value Dense would clip or
  truncate is refused: nothing is changed silently.
* ``delays``: the feed-forward weight's taps (``spikedeploy.delays``): ``weight`` is
  ``[out, K in]``, block ``k`` reaching the neurons ``delays[k]`` steps late (in Lava one
  connection per tap, ``DelayDense`` where the delay is not 0); one ``weight_exp`` and
  one sign mode (the whole matrix's) for every tap, each tap's partial sum scaled on its own.
* ``weight_exp``: the feed-forward Dense's exponent. ``rec_weight_exp``: the
  recurrent Dense's own exponent; ``None`` means it **shares** ``weight_exp``
  (lava-dl netx's convention for ``dense_rec``). ``num_weight_bits`` applies to both.
* ``du``, ``dv`` (0..4095), ``vth`` (0..131071), ``bias_mant`` (-4096..4095): per
  neuron (a scalar is broadcast). ``bias_exp`` (0..7): one per layer.
* ``spiking=False``: a non-spiking readout whose voltage ``v`` is read. Its ``vth``
  is the maximum, 131071 (``vth=None`` fills it in); it never spikes unless ``v``
  reaches the saturation region above ``131071 << 6 = 8388544`` (``v`` clips at
  8388607), which the emulator reports as a readout overflow. Only the last
  layer may be non-spiking.

Lava holds **one** du, dv and vth per LIF process, so the Lava builder makes one
process per :meth:`LoihiLayer.decay_groups` group (neurons sharing du, dv, vth).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ..delays import NO_DELAYS, check_delays, taps
from ..errors import ConfigError, QuantizationError, ShapeMismatchError
from ..hardware import FixedPointSpec, load_chip
from ..netspec import LayerStack
from . import fixed_point as fx

#: Tag and version written by :meth:`LoihiNetwork.to_dict`.
FORMAT = "spikedeploy.loihi_network"
FORMAT_VERSION = 1


def _int_array(layer: str, name: str, value, *, ndim: int | None = None) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise QuantizationError(layer, name, f"dtype {arr.dtype}: the integer network holds integers",
                                remedy="quantise the float values first (spikedeploy.quant)")
    if ndim is not None and arr.ndim != ndim:
        raise ShapeMismatchError(f"layer {layer!r} {name}", f"{ndim} dimensions", arr.shape)
    return arr.astype(np.int32)


def _int_scalar(layer: str, name: str, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise QuantizationError(layer, name, f"must be an integer, got {value!r}")
    return int(value)


def _per_neuron(layer: str, name: str, value, n: int) -> np.ndarray:
    arr = _int_array(layer, name, value)
    if arr.ndim == 0:
        arr = np.full(n, int(arr), dtype=np.int32)
    if arr.shape != (n,):
        raise ShapeMismatchError(f"layer {layer!r} {name}", f"a scalar or ({n},)", arr.shape)
    return arr


def _check_range(layer: str, name: str, arr: np.ndarray, lo: int, hi: int, what: str,
                 remedy: str | None = None) -> None:
    bad = (arr < lo) | (arr > hi)
    if np.any(bad):
        idx = tuple(int(i) for i in np.argwhere(bad)[0]) if arr.ndim else ()
        val = int(arr[idx]) if arr.ndim else int(arr)
        where = f" at {list(idx)}" if idx else ""
        raise QuantizationError(layer, name, f"{int(bad.sum())} value(s) outside {what} [{lo}, {hi}] "
                                             f"(e.g. {val}{where})", remedy=remedy)


def _check_weight_grid(layer: str, name: str, w: np.ndarray, num_weight_bits: int,
                       spec: FixedPointSpec) -> None:
    mode = fx.sign_mode(w)
    lo, hi, step = fx.weight_grid(mode, num_weight_bits, spec)
    eff = fx.dense_effective_weights(w, num_weight_bits, mode, spec)
    bad = eff != w
    if np.any(bad):
        i, j = (int(k) for k in np.argwhere(bad)[0])
        raise QuantizationError(
            layer, name,
            f"{int(bad.sum())} weight(s) are not on Dense's grid for a {mode}-sign matrix with "
            f"num_weight_bits={num_weight_bits} (multiples of {step} in [{lo}, {hi}]); e.g. "
            f"{int(w[i, j])} at [{i}, {j}] would become {int(eff[i, j])}",
            remedy="round the weights to this grid (mixed sign at 8 bits: even integers in [-256, 254]) "
                   "and move the scale into weight_exp")


@dataclass(frozen=True)
class DecayGroup:
    """Neurons of one layer sharing (du, dv, vth): one Lava LIF process. The values are
    Python scalars in the units of the network they came from (integers for a LoihiLayer)."""

    du: Any
    dv: Any
    vth: Any
    neurons: np.ndarray   # sorted neuron indices into the layer, int64

    @property
    def size(self) -> int:
        return int(self.neurons.size)


def decay_groups(du: np.ndarray, dv: np.ndarray, vth: np.ndarray) -> tuple[DecayGroup, ...]:
    """Neurons sharing (du, dv, vth), in order of their first neuron: one Lava LIF process each.
    The one grouping rule of the project (integer layers, Lava's float parameters, mapping)."""
    keys = np.stack([du, dv, vth], axis=1)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    groups = []
    for g in np.argsort(first):
        idx = np.flatnonzero(inverse == g).astype(np.int64)
        idx.setflags(write=False)
        i0 = int(idx[0])
        groups.append(DecayGroup(du[i0].item(), dv[i0].item(), vth[i0].item(), idx))
    return tuple(groups)


@dataclass(frozen=True, eq=False)
class LoihiLayer:
    """One Dense (+ recurrent Dense) and its LIF neurons, all integers (see the module docstring)."""

    name: str
    weight: np.ndarray
    weight_exp: int
    du: Any
    dv: Any
    vth: Any = None
    bias_mant: Any = None
    bias_exp: int = 0
    spiking: bool = True
    rec_weight: np.ndarray | None = None
    rec_weight_exp: int | None = None
    num_weight_bits: int = 8
    delays: tuple[int, ...] = NO_DELAYS

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError("layer name", f"must be a non-empty string, got {self.name!r}")
        name = self.name
        w = _int_array(name, "weight", self.weight, ndim=2)
        n = w.shape[0]
        put = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        put("weight", w)
        put("delays", check_delays(f"layer {name!r}", self.delays, w.shape[1]))
        put("weight_exp", _int_scalar(name, "weight_exp", self.weight_exp))
        put("num_weight_bits", _int_scalar(name, "num_weight_bits", self.num_weight_bits))
        put("bias_exp", _int_scalar(name, "bias_exp", self.bias_exp))
        if not isinstance(self.spiking, (bool, np.bool_)):
            raise ConfigError(f"layer {name!r} spiking", f"must be True or False, got {self.spiking!r}")
        put("spiking", bool(self.spiking))
        put("du", _per_neuron(name, "du", self.du, n))
        put("dv", _per_neuron(name, "dv", self.dv, n))
        if self.vth is None:
            if self.spiking:
                raise QuantizationError(name, "vth", "a spiking layer needs a threshold")
            put("vth", np.full(n, fx.default_spec().threshold_max, dtype=np.int32))
        else:
            put("vth", _per_neuron(name, "vth", self.vth, n))
        put("bias_mant", _per_neuron(name, "bias_mant", 0 if self.bias_mant is None else self.bias_mant, n))
        if self.rec_weight is not None:
            r = _int_array(name, "rec_weight", self.rec_weight, ndim=2)
            if r.shape != (n, n):
                raise ShapeMismatchError(f"layer {name!r} rec_weight", (n, n), r.shape)
            put("rec_weight", r)
            if self.rec_weight_exp is not None:
                put("rec_weight_exp", _int_scalar(name, "rec_weight_exp", self.rec_weight_exp))
        elif self.rec_weight_exp is not None:
            raise QuantizationError(name, "rec_weight_exp", "given without rec_weight")
        for key in ("weight", "du", "dv", "vth", "bias_mant", "rec_weight"):
            arr = getattr(self, key)
            if arr is not None:
                arr.setflags(write=False)
        self.validate(fx.default_spec())

    # --- validation -------------------------------------------------------------------
    def validate(self, spec: FixedPointSpec) -> None:
        """Check every field against ``spec``'s widths; QuantizationError names the field."""
        name = self.name
        if not 1 <= self.num_weight_bits <= spec.weight_bits:
            raise QuantizationError(name, "num_weight_bits", f"{self.num_weight_bits} outside [1, {spec.weight_bits}]")
        _check_weight_grid(name, "weight", self.weight, self.num_weight_bits, spec)
        exp_what = "the weight exponent range"
        _check_range(name, "weight_exp", np.asarray(self.weight_exp), spec.weight_exp_min,
                     spec.weight_exp_max, exp_what, remedy="rescale the weights so the exponent fits")
        _check_range(name, "du", self.du, 0, spec.decay_max, f"{spec.decay_bits}-bit decays")
        _check_range(name, "dv", self.dv, 0, spec.decay_max, f"{spec.decay_bits}-bit decays")
        _check_range(name, "vth", self.vth, 0, spec.threshold_max, f"{spec.threshold_bits}-bit thresholds",
                     remedy="raise weight_exp (larger weights need a larger threshold) or lower the threshold scale")
        if not self.spiking and np.any(self.vth != spec.threshold_max):
            raise QuantizationError(name, "vth", f"a non-spiking layer keeps vth at its maximum "
                                                 f"{spec.threshold_max} (its voltage is read, never thresholded)",
                                    remedy="pass vth=None for a non-spiking layer")
        _check_range(name, "bias_mant", self.bias_mant, spec.bias_mant_min, spec.bias_mant_max,
                     f"{spec.bias_mant_bits}-bit signed mantissas", remedy="raise bias_exp")
        _check_range(name, "bias_exp", np.asarray(self.bias_exp), 0, spec.bias_exp_max,
                     f"{spec.bias_exp_bits}-bit unsigned exponents")
        if self.rec_weight is not None:
            _check_weight_grid(name, "rec_weight", self.rec_weight, self.num_weight_bits, spec)
            _check_range(name, "rec_weight_exp", np.asarray(self.rec_exp), spec.weight_exp_min,
                         spec.weight_exp_max, exp_what)

    # --- views ------------------------------------------------------------------------
    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1]) // len(self.delays)

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])

    @property
    def recurrent(self) -> bool:
        return self.rec_weight is not None

    @property
    def delayed(self) -> bool:
        return self.delays != NO_DELAYS

    def taps(self) -> list[tuple[int, np.ndarray]]:
        """``[(delay, W_k [out, in])]``: one connection process each (``spikedeploy.delays``)."""
        return taps(self.weight, self.delays)

    @property
    def rec_exp(self) -> int:
        """The recurrent Dense's exponent (its own, or the shared ``weight_exp``)."""
        return self.weight_exp if self.rec_weight_exp is None else self.rec_weight_exp

    @property
    def sign_mode(self) -> str:
        return fx.sign_mode(self.weight)

    @property
    def rec_sign_mode(self) -> str | None:
        return None if self.rec_weight is None else fx.sign_mode(self.rec_weight)

    def decay_groups(self) -> tuple[DecayGroup, ...]:
        """Neurons sharing (du, dv, vth), in order of their first neuron; one Lava LIF each."""
        return decay_groups(self.du, self.dv, self.vth)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name, "weight": np.array(self.weight), "weight_exp": self.weight_exp,
            "num_weight_bits": self.num_weight_bits, "du": np.array(self.du), "dv": np.array(self.dv),
            "vth": np.array(self.vth), "bias_mant": np.array(self.bias_mant), "bias_exp": self.bias_exp,
            "spiking": self.spiking,
        }
        if self.rec_weight is not None:
            d["rec_weight"] = np.array(self.rec_weight)
            if self.rec_weight_exp is not None:
                d["rec_weight_exp"] = self.rec_weight_exp
        if self.delayed:
            d["delays"] = np.array(self.delays, dtype=np.int64)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LoihiLayer":
        return fields_from_dict(cls, d)


def fields_to_dict(obj: Any) -> dict[str, Any]:
    """A frozen dataclass of integers and arrays as plain data (arrays copied)."""
    return {f.name: (np.array(v) if isinstance(v := getattr(obj, f.name), np.ndarray) else v)
            for f in dataclasses.fields(obj)}


def fields_from_dict(cls: Any, d: Mapping[str, Any]) -> Any:
    """``cls(**d)`` for :func:`fields_to_dict`'s plain data (the class's own ``kind`` tag dropped; 0-d
    arrays and bytes, as files give them back, made scalars and strings); unknown fields refused by
    name."""
    d = {k: v for k, v in d.items() if not (k == "kind" and isinstance(v, str) and v == getattr(cls, "kind", None))}
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - known
    if unknown:
        raise ConfigError("layer", f"unknown fields {sorted(unknown)}", valid=sorted(known))
    kw = {k: (v.item() if isinstance(v, np.ndarray) and v.ndim == 0 else v) for k, v in d.items()}
    if isinstance(kw.get("name"), bytes):
        kw["name"] = kw["name"].decode()
    return cls(**kw)


def _check_plain(value: Any, where: str) -> None:
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError) as err:
        raise ConfigError(where, f"metadata must be plain data (str, numbers, lists, dicts): {err}") from None


@dataclass(frozen=True, eq=False)
class LoihiNetwork(LayerStack):
    """An ordered stack of integer layers fed by ``input_size`` input channels.

    ``chip`` names the profile whose fixed point the layers are validated against;
    ``metadata`` is plain data (JSON-able) that travels with the network (how it was
    made: source model, quantiser settings, scales). ``input_bits``: 0 for binary input
    spikes; ``b > 0`` for graded input spikes, signed integer payloads in
    ``[-2^(b-1), 2^(b-1) - 1]`` that the first layer's connections multiply (Lava's
    ``num_message_bits``; Loihi 2 only: the chip's ``graded_spike_bits`` bounds ``b``).
    """

    input_size: int
    layers: tuple[LoihiLayer, ...]
    chip: str = "loihi2"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    input_bits: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "input_size", _int_scalar("<input>", "input_size", self.input_size))
        if self.input_size < 1:
            raise ConfigError("input_size", f"must be >= 1, got {self.input_size}")
        if not self.layers:
            raise ConfigError("layers", "a network needs at least one layer")
        for layer in self.layers:
            if not isinstance(layer, LoihiLayer):
                raise ConfigError("layers", f"expected LoihiLayer, got {type(layer).__name__}")
        names = [l.name for l in self.layers]
        if len(set(names)) != len(names):
            raise ConfigError("layers", f"layer names must be unique, got {names}")
        spec = load_chip(self.chip).require_fixed_point()
        size = self.input_size
        for i, layer in enumerate(self.layers):
            if layer.n_in != size:
                raise ShapeMismatchError(f"layer {layer.name!r} input", size, layer.n_in)
            if not layer.spiking and i != len(self.layers) - 1:
                raise ConfigError(f"layer {layer.name!r} spiking",
                                  f"a non-spiking layer feeds layer {self.layers[i + 1].name!r}; "
                                  "only the last layer may be non-spiking")
            if spec != fx.default_spec():
                layer.validate(spec)
            size = layer.n_out
        _check_plain(dict(self.metadata), "metadata")
        object.__setattr__(self, "metadata", dict(self.metadata))
        object.__setattr__(self, "input_bits", _int_scalar("<input>", "input_bits", self.input_bits))
        graded = load_chip(self.chip).limit("graded_spike_bits") or 0
        if not 0 <= self.input_bits <= graded:
            raise QuantizationError("<input>", "input_bits", f"{self.input_bits}-bit graded input spikes; {self.chip} "
                                    f"carries {'binary spikes only' if not graded else f'at most {graded} bits'}",
                                    remedy="deploy graded input on Loihi 2 (chip loihi2), or encode the input as "
                                           "binary spikes (input_bits 0)")

    @property
    def graded_input(self) -> bool:
        return self.input_bits > 0

    @property
    def input_range(self) -> tuple[int, int]:
        """The input values the network takes: (0, 1) for spikes, the signed payload range when graded."""
        return (0, 1) if not self.input_bits else (-(1 << (self.input_bits - 1)), (1 << (self.input_bits - 1)) - 1)

    # --- views ------------------------------------------------------------------------
    @property
    def spec(self) -> FixedPointSpec:
        return load_chip(self.chip).require_fixed_point()

    @property
    def output_size(self) -> int:
        return self.layers[-1].n_out

    @property
    def readout(self) -> LoihiLayer:
        return self.layers[-1]

    def with_metadata(self, **extra: Any) -> "LoihiNetwork":
        """A copy with ``extra`` merged into the metadata."""
        return dataclasses.replace(self, metadata={**self.metadata, **extra})

    def summary(self) -> str:
        lines = [f"LoihiNetwork({self.chip}): {self.input_size} inputs"
                 + (f" (graded, {self.input_bits}-bit payloads)" if self.input_bits else "")]
        for l in self.layers:
            rec = f", recurrent (exp {l.rec_exp})" if l.recurrent else ""
            rec += f", delays {list(l.delays)}" if l.delayed else ""
            kind = "LIF" if l.spiking else "readout (non-spiking)"
            lines.append(f"  {l.name}: {l.n_in} -> {l.n_out} {kind}, weight_exp {l.weight_exp}{rec}, "
                         f"{len(l.decay_groups())} decay group(s)")
        return "\n".join(lines)

    # --- plain data -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain data: ints, strings, bools, numpy integer arrays, and the metadata dict."""
        d = {"format": FORMAT, "version": FORMAT_VERSION, "input_size": self.input_size,
             "chip": self.chip, "metadata": dict(self.metadata),
             "layers": [l.to_dict() for l in self.layers]}
        if self.input_bits:
            d["input_bits"] = self.input_bits
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LoihiNetwork":
        fmt = d.get("format", FORMAT)
        if isinstance(fmt, bytes):
            fmt = fmt.decode()
        if fmt != FORMAT:
            raise ConfigError("format", f"expected {FORMAT!r}, got {fmt!r}")
        version = int(d.get("version", FORMAT_VERSION))
        if version > FORMAT_VERSION:
            raise ConfigError("version", f"integer network format version {version} is newer than "
                                         f"this spikedeploy reads ({FORMAT_VERSION})",
                              remedy="upgrade spikedeploy")
        chip = d.get("chip", "loihi2")
        return cls(input_size=int(d["input_size"]), chip=chip.decode() if isinstance(chip, bytes) else chip,
                   metadata=dict(d.get("metadata", {})), input_bits=int(d.get("input_bits", 0)),
                   layers=tuple(LoihiLayer.from_dict(l) for l in d["layers"]))
