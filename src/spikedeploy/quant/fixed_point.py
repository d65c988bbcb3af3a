"""The one fixed-point reference: Loihi's integer operations, every width from the chip profile.

Everything here works on integer numpy arrays, integer torch tensors (CPU or
CUDA; int64 recommended) and Python ints, and returns the same kind it got. The
widths and shifts come from a :class:`~spikedeploy.hardware.FixedPointSpec`
(``hardware/loihi2.toml`` by default, :func:`default_spec`), never from literals.

Rounding rules, as lava-nc 0.10's bit-accurate models apply them:

* decays round **toward zero**: ``sign(p) * (|p| >> 12)`` with ``p = x * (4096 - d)``
  (:func:`decay`, :func:`shift_toward_zero`);
* a negative ``weight_exp`` (Dense) or ``bias_exp`` shifts **arithmetically**, i.e.
  rounds toward minus infinity (:func:`scale_pow2`, :func:`shift_right_floor`);
* the current ``u`` **wraps** at 24 bits, into ``(-2^23, 2^23]`` (:func:`wrap_state`,
  Lava's rule, which differs from two's complement :func:`wrap` only at the two
  boundary values);
* the voltage ``v`` **saturates** at ``+-(2^23 - 1)`` (:func:`clip_symmetric`).

Weights: Lava's Dense clips a weight matrix to 8 bits and drops low bits
according to its *sign mode* (:func:`sign_mode`): a mixed-sign matrix keeps
its sign in the weight bits, so at ``num_weight_bits = 8`` its usable weights are
the even integers in ``[-256, 254]``; an all-positive matrix uses ``[0, 255]``; an
all-negative one ``[-255, 0]``. :func:`weight_grid` gives the grid and
:func:`dense_effective_weights` what Dense will actually use.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import numpy as np

from ..hardware import FixedPointSpec, load_chip

#: Lava's weight sign modes (lava.utils.weightutils.SignMode), by name.
SIGN_MODES = ("mixed", "excitatory", "inhibitory")


@functools.lru_cache(maxsize=None)
def default_spec() -> FixedPointSpec:
    """The fixed-point spec of ``hardware/loihi2.toml`` (the project's default target)."""
    return load_chip("loihi2").require_fixed_point()


# --- array kind dispatch --------------------------------------------------------------

def _is_torch(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _prep(x: Any):
    """(array, is_torch, was_scalar) with an integer dtype check."""
    if _is_torch(x):
        if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == sys.modules["torch"].bool:
            raise TypeError(f"fixed-point operations need an integer tensor, got {x.dtype}")
        return x, True, False
    scalar = np.isscalar(x) or (isinstance(x, np.ndarray) and x.ndim == 0)
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"fixed-point operations need integers, got dtype {arr.dtype}")
    return arr, False, scalar


def _out(arr, is_torch: bool, scalar: bool):
    if is_torch:
        return arr
    return arr[()] if scalar else arr


def _where(is_torch: bool, cond, a, b):
    if is_torch:
        torch = sys.modules["torch"]
        return torch.where(cond, a, b)
    return np.where(cond, a, b)


def _sign(is_torch: bool, x):
    if is_torch:
        return sys.modules["torch"].sign(x)
    return np.sign(x)


def _check_shift(n: int) -> int:
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ValueError(f"shift amounts are non-negative integers, got {n!r}")
    return int(n)


# --- shifts ---------------------------------------------------------------------------

def shift_toward_zero(x, n: int):
    """``sign(x) * (|x| >> n)``: divide by 2^n rounding toward zero (-7 >> 1 -> -3)."""
    n = _check_shift(n)
    a, t, s = _prep(x)
    return _out(_sign(t, a) * (abs(a) >> n), t, s)


def shift_right_floor(x, n: int):
    """Arithmetic ``x >> n``: divide by 2^n rounding toward minus infinity (-7 >> 1 -> -4)."""
    n = _check_shift(n)
    a, t, s = _prep(x)
    return _out(a >> n, t, s)


def shift_left(x, n: int):
    """``x << n`` (multiply by 2^n; the caller keeps the result within its width)."""
    n = _check_shift(n)
    a, t, s = _prep(x)
    return _out(a << n, t, s)


def scale_pow2(x, exp: int):
    """``x << exp`` for ``exp > 0``, else arithmetic ``x >> -exp`` (floor).

    Lava's rule for Dense's ``weight_exp`` (applied to the accumulated activation)
    and for LIF's ``bias_exp``.
    """
    exp = int(exp)
    return shift_left(x, exp) if exp > 0 else shift_right_floor(x, -exp)


# --- widths ---------------------------------------------------------------------------

def int_range(bits: int, signed: bool = True) -> tuple[int, int]:
    """``(min, max)`` of a ``bits``-wide integer: two's complement when signed."""
    if bits < 1:
        raise ValueError(f"bit width must be >= 1, got {bits}")
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def wrap(x, bits: int):
    """Wrap to ``bits``-bit two's complement: ``[-2^(bits-1), 2^(bits-1) - 1]`` (modular)."""
    a, t, s = _prep(x)
    half = 1 << (bits - 1)
    return _out(((a + half) % (2 * half)) - half, t, s)


def wrap_state(x, bits: int):
    """Lava's wrap of the current ``u`` at ``bits`` bits, into ``(-2^(bits-1), 2^(bits-1)]``.

    Exactly ``AbstractPyLifModelFixed.subthr_dynamics``: values above ``+2^(bits-1)``
    lose ``2^bits``, values at or below ``-2^(bits-1)`` gain ``2^bits`` (one
    correction; inputs stay within ``+-3 * 2^(bits-1)`` whenever ``a_in`` fits its 16
    bits). Unlike two's complement, ``+2^23`` stays ``+2^23`` and ``-2^23`` becomes
    ``+2^23``.
    """
    a, t, s = _prep(x)
    half = 1 << (bits - 1)
    once = _where(t, a > half, a - 2 * half, a)
    return _out(_where(t, once <= -half, a + 2 * half, once), t, s)


def saturate(x, bits: int):
    """Clamp to ``bits``-bit two's complement ``[-2^(bits-1), 2^(bits-1) - 1]``."""
    lo, hi = int_range(bits, signed=True)
    a, t, s = _prep(x)
    return _out(a.clamp(lo, hi) if t else np.clip(a, lo, hi), t, s)


def clip_symmetric(x, bits: int):
    """Clamp to ``+-(2^(bits-1) - 1)``: Lava's saturation of the voltage ``v``."""
    hi = (1 << (bits - 1)) - 1
    a, t, s = _prep(x)
    return _out(a.clamp(-hi, hi) if t else np.clip(a, -hi, hi), t, s)


# --- the LIF operations ---------------------------------------------------------------

def decay(x, d, spec: FixedPointSpec | None = None):
    """One decay step: ``(x * (4096 - d))`` shifted right by 12 toward zero.

    ``d`` is the *effective* decay: ``du + 1`` for the current (so du = 4095 clears
    it), ``dv`` for the voltage (see :func:`current_decay`, :func:`voltage_decay`).
    ``d`` may be an int or an array broadcasting against ``x``.
    """
    spec = spec or default_spec()
    a, t, s = _prep(x)
    if not t:
        d = np.asarray(d)
    prod = a * (spec.decay_unity - d)
    return _out(_sign(t, prod) * (abs(prod) >> spec.decay_shift), t, s)


def current_decay(u, du, spec: FixedPointSpec | None = None):
    """``u`` after one step of decay ``du`` (Lava adds ``current_decay_offset`` = 1)."""
    spec = spec or default_spec()
    return decay(u, du + spec.current_decay_offset, spec)


def voltage_decay(v, dv, spec: FixedPointSpec | None = None):
    """``v`` after one step of decay ``dv`` (Lava adds ``voltage_decay_offset`` = 0)."""
    spec = spec or default_spec()
    return decay(v, dv + spec.voltage_decay_offset, spec)


def effective_bias(bias_mant, bias_exp: int):
    """``bias_mant << bias_exp`` (a negative exponent shifts right, floor), as Lava scales the bias."""
    return scale_pow2(bias_mant, bias_exp)


def effective_threshold(vth, spec: FixedPointSpec | None = None):
    """``vth << 6``: the value ``v`` must strictly exceed to spike."""
    spec = spec or default_spec()
    return shift_left(vth, spec.threshold_shift)


def activation_to_current(a_in, spec: FixedPointSpec | None = None):
    """``a_in << 6``: how the synaptic input is MSB-aligned before it is added to ``u``."""
    spec = spec or default_spec()
    return shift_left(a_in, spec.activation_shift)


# --- weights --------------------------------------------------------------------------

def sign_mode(weight) -> str:
    """Lava's sign mode of a weight matrix: ``excitatory`` (all >= 0, also all zero),
    ``inhibitory`` (all <= 0, some < 0) or ``mixed``."""
    a, t, _ = _prep(weight)
    if (a.numel() if t else a.size) == 0:
        return "excitatory"
    lo, hi = int(a.min()), int(a.max())
    if lo >= 0:
        return "excitatory"
    if hi <= 0:
        return "inhibitory"
    return "mixed"


def _truncate_bits(mode: str, num_weight_bits: int, spec: FixedPointSpec) -> int:
    if mode not in SIGN_MODES:
        raise ValueError(f"unknown sign mode {mode!r}; expected one of {SIGN_MODES}")
    if not 1 <= num_weight_bits <= spec.weight_bits:
        raise ValueError(f"num_weight_bits must lie in 1..{spec.weight_bits}, got {num_weight_bits}")
    return spec.weight_bits - num_weight_bits + (1 if mode == "mixed" else 0)


def weight_grid(mode: str, num_weight_bits: int = 8,
                spec: FixedPointSpec | None = None) -> tuple[int, int, int]:
    """``(lowest, highest, step)`` of the weights Dense uses unchanged for this sign mode.

    mixed, 8 bits: (-256, 254, 2); excitatory, 8 bits: (0, 255, 1); inhibitory:
    (-255, 0, 1). Fewer weight bits make the step coarser (mixed, 6 bits: step 8).
    """
    spec = spec or default_spec()
    drop = _truncate_bits(mode, num_weight_bits, spec)
    step = 1 << drop
    top = ((spec.weight_max) >> drop) << drop
    if mode == "mixed":
        return -(1 << spec.weight_bits), top, step
    if mode == "excitatory":
        return 0, top, step
    return -top, 0, step


def float_weight_grid(weight: np.ndarray, num_weight_bits: int = 8,
                      spec: FixedPointSpec | None = None) -> tuple[str, int, int, int, int]:
    """``(sign mode, lowest, highest, step, top)`` of the Dense grid a FLOAT matrix goes onto:
    the sign mode its signs call for (all >= 0: excitatory, all <= 0: inhibitory, else
    mixed), that mode's :func:`weight_grid`, and ``top``, the grid's largest magnitude."""
    spec = spec or default_spec()
    if weight.size == 0 or float(weight.min()) >= 0:
        mode = "excitatory"
    elif float(weight.max()) <= 0:
        mode = "inhibitory"
    else:
        mode = "mixed"
    lo, hi, step = weight_grid(mode, num_weight_bits, spec)
    top = -lo if mode == "inhibitory" else hi
    return mode, lo, hi, step, top


def dense_effective_weights(weight, num_weight_bits: int = 8, mode: str | None = None,
                            spec: FixedPointSpec | None = None):
    """The weights Lava's bit-accurate Dense computes with: clipped to 8 bits, low bits dropped.

    Mirrors ``clip_weights(num_bits=8)`` then ``truncate_weights(num_weight_bits)``
    for ``mode`` (default: the matrix's own :func:`sign_mode`, as Dense determines it).
    """
    spec = spec or default_spec()
    mode = mode or sign_mode(weight)
    drop = _truncate_bits(mode, num_weight_bits, spec)
    a, t, s = _prep(weight)
    top = spec.weight_max
    if mode == "inhibitory":
        a = -a
    lo = -(top + 1) if mode == "mixed" else 0
    a = a.clamp(lo, top) if t else np.clip(a, lo, top)
    a = (a >> drop) << drop
    if mode == "inhibitory":
        a = -a
    return _out(a, t, s)
