"""Real-valued input as Loihi 2 graded spikes: the host's encoder and the network it feeds.

A network trained on real-valued features (s2net's log-Mel input) deploys on Loihi 2 with
its input as graded spikes: each channel sends, each step, a signed ``b``-bit integer
payload that the first layer's connections multiply (``LoihiNetwork.input_bits``; Lava's
``num_message_bits``). The host encodes::

    p = clip(round(x * s), -2^(b-1), 2^(b-1) - 1)        (zero: no spike sent)

with one scale ``s`` chosen on calibration data so that ``max |x|`` meets the top of the
payload range (:func:`input_scale`). The float network that reads ``p`` instead of ``x``
has its first layer's weights divided by ``s`` (:func:`payload_spec`); the quantiser then
takes ``p`` as it is (``QuantConfig(input_bits=b)``). The only loss is the rounding of ``x``
to ``1 / s`` steps (and the clipping of values beyond the calibration's maximum), measured
by comparing the float network on ``x`` and on ``p / s``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..netspec import NetworkSpec

#: The payload width used when none is asked for: signed 8 bits (the weights' width).
DEFAULT_INPUT_BITS = 8


def _top(bits: int) -> int:
    if not (isinstance(bits, int) and 1 < bits <= 32):
        raise ConfigError("input_bits", f"graded payloads need 2..32 bits, got {bits!r}")
    return (1 << (bits - 1)) - 1


def input_scale(x_calib: Any, bits: int = DEFAULT_INPUT_BITS) -> float:
    """The scale ``s`` that puts ``max |x_calib|`` at the payload's top, ``2^(b-1) - 1``."""
    peak = float(np.max(np.abs(np.asarray(x_calib, dtype=np.float64)))) if np.size(x_calib) else 0.0
    if not np.isfinite(peak) or peak <= 0:
        raise ConfigError("calibration inputs", f"need a finite, non-zero largest magnitude, got {peak}")
    return _top(bits) / peak


def encode(x: Any, scale: float, bits: int = DEFAULT_INPUT_BITS) -> np.ndarray:
    """``x`` [..] as int32 payloads ``clip(round(x * scale))`` in the signed ``bits`` range."""
    top = _top(bits)
    return np.clip(np.round(np.asarray(x, dtype=np.float64) * float(scale)), -top - 1, top).astype(np.int32)


def encode_recorded(frames: Any, metadata: Any, bits: int) -> np.ndarray:
    """``frames`` as the payloads the exporter's recorded encoder makes: standardised with the
    metadata's ``input_mean`` / ``input_std`` (``fold.s2net_conv``, ``standardise="host"``), then
    :func:`encode` with its ``input_scale`` (:func:`payload_spec`)."""
    mean, std = (np.asarray(metadata[k], dtype=np.float64) for k in ("input_mean", "input_std"))
    return encode((np.asarray(frames, dtype=np.float64) - mean) / std, float(metadata["input_scale"]), bits)


def payload_spec(spec: NetworkSpec, scale: float, bits: int = DEFAULT_INPUT_BITS) -> NetworkSpec:
    """``spec`` reading the ``bits``-bit payloads ``p = x * scale``: its first layer's weights divided
    by ``scale``; the scale and the width go into its metadata (``input_scale``, ``input_bits``)."""
    _top(bits)
    first = spec.layers[0]
    layer = dataclasses.replace(first, weight=(first.weight.astype(np.float64) / float(scale)).astype(np.float32))
    return dataclasses.replace(spec, layers=(layer,) + tuple(spec.layers[1:]),
                               metadata={**spec.metadata, "input_scale": float(scale), "input_bits": int(bits)})
