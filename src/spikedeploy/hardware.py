"""Chip profiles: the hardware numbers, as data, each with its source.

A profile is a TOML file in ``hardware/`` (``loihi1.toml``, ``loihi2.toml``,
``gpu.toml``; the scheme is described in ``hardware/README.md``). Every number is
an inline table ``{ value, unit, status, source, note }``; ``status`` says how much
to trust it:

* ``source-code``: read from lava-nc's own bit-accurate models (the ground truth
  of the simulation);
* ``published``: from a paper or a vendor brief, cited in ``source``;
* ``unverified``: quoted by secondary sources, not confirmed in the primary one;
* ``estimate``: our labelled assumption (e.g. any Loihi 2 energy figure);
* ``fitted``: chosen so that a device model matches published measurements (the
  measurements and the fit are named in ``source``; docs/energy.md lists every one);
* ``unpublished``: no value exists; the entry documents the gap.

An entry may carry ``low`` and ``high`` (the range the value is known to lie in, or the
range an estimate spans): the device models (:mod:`spikedeploy.metrics.devices`) give
their results as low / expected / high from them.

:func:`load_chip` returns a frozen :class:`ChipProfile`; the fixed-point widths
of a neuromorphic chip come as a typed :class:`FixedPointSpec`, which is where
``spikedeploy.quant.fixed_point`` and the emulator take their constants from.
:meth:`ChipProfile.core_fit` / :meth:`ChipProfile.check_core` compare a core's
load against the per-core limits (limits without a value are reported as
unchecked, never silently passed as checked).
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError, MappingError
from .paths import HARDWARE_DIR

if sys.version_info >= (3, 11):  # pragma: no cover - depends on the interpreter
    import tomllib as _toml
else:  # pragma: no cover
    import tomli as _toml

#: The trust levels a number may carry (see the module docstring).
STATUSES = ("source-code", "published", "unverified", "estimate", "fitted", "unpublished")
#: Kinds of target a profile describes.
KINDS = ("neuromorphic", "conventional")
#: What a profile's device is (``[chip] device``; default: ``neuromorphic`` for a neuromorphic
#: chip, ``arithmetic`` for a conventional profile without it: per-operation energies only).
DEVICES = ("neuromorphic", "gpu", "cpu", "accelerator", "arithmetic")


@dataclass(frozen=True)
class Quantity:
    """One hardware number with its unit, trust level and source (``value`` None: unpublished)."""

    value: int | float | None
    unit: str
    status: str
    source: str
    note: str | None = None
    low: int | float | None = None
    high: int | float | None = None

    @property
    def known(self) -> bool:
        return self.value is not None

    @property
    def span(self) -> tuple[float, float, float]:
        """(low, value, high); an entry without a range spans its value alone."""
        v = float(self.value)
        return (v if self.low is None else float(self.low), v, v if self.high is None else float(self.high))

    @property
    def is_estimate(self) -> bool:
        return self.status == "estimate"


@dataclass(frozen=True)
class FixedPointSpec:
    """The integer datapath of a Loihi-class neuron and synapse (all widths in bits).

    Field names follow ``hardware/<chip>.toml``'s ``[fixed_point]`` table; the
    properties derive the ranges every other module checks against.
    """

    weight_bits: int
    weight_exp_min: int
    weight_exp_max: int
    activation_bits: int
    activation_shift: int
    state_bits: int
    decay_bits: int
    decay_shift: int
    current_decay_offset: int
    voltage_decay_offset: int
    threshold_bits: int
    threshold_shift: int
    bias_mant_bits: int
    bias_exp_bits: int

    # --- derived ranges -------------------------------------------------------------
    @property
    def decay_unity(self) -> int:
        """4096: a decay d multiplies the state by (decay_unity - d) / decay_unity."""
        return 1 << self.decay_shift

    @property
    def decay_max(self) -> int:
        """Largest du / dv (4095)."""
        return (1 << self.decay_bits) - 1

    @property
    def threshold_max(self) -> int:
        """Largest vth mantissa (131071)."""
        return (1 << self.threshold_bits) - 1

    @property
    def bias_mant_min(self) -> int:
        return -(1 << (self.bias_mant_bits - 1))

    @property
    def bias_mant_max(self) -> int:
        return (1 << (self.bias_mant_bits - 1)) - 1

    @property
    def bias_exp_max(self) -> int:
        """bias_exp is unsigned: 0 .. 7."""
        return (1 << self.bias_exp_bits) - 1

    @property
    def state_half(self) -> int:
        """2^23: u wraps into (-2^23, 2^23]; v saturates at +-(2^23 - 1)."""
        return 1 << (self.state_bits - 1)

    @property
    def voltage_limit(self) -> int:
        """2^23 - 1, the magnitude v is clipped to."""
        return self.state_half - 1

    @property
    def activation_min(self) -> int:
        return -(1 << (self.activation_bits - 1))

    @property
    def activation_max(self) -> int:
        return (1 << (self.activation_bits - 1)) - 1

    @property
    def weight_max(self) -> int:
        """255: the largest magnitude an 8-bit weight can take (sign mode excitatory)."""
        return (1 << self.weight_bits) - 1


@dataclass(frozen=True)
class CoreFit:
    """Result of comparing one core's load with the chip's per-core limits."""

    fits: bool
    problems: tuple[str, ...]      # "neurons_per_core: 2000 > 1024"
    unchecked: tuple[str, ...]     # limits the chip does not publish

    def __bool__(self) -> bool:
        return self.fits


@dataclass(frozen=True)
class ChipProfile:
    """A chip (or conventional processor) profile loaded from ``hardware/<name>.toml``."""

    name: str
    kind: str
    description: str
    path: Path
    sections: Mapping[str, Mapping[str, Quantity]] = field(repr=False)
    fixed_point: FixedPointSpec | None = field(default=None, repr=False)
    device: str = "arithmetic"

    def span(self, section: str, key: str) -> tuple[float, float, float]:
        """``[section] key`` as (low, value, high) (ConfigError when it has no value)."""
        self.value(section, key)
        return self.quantity(section, key).span

    # --- lookup ---------------------------------------------------------------------
    def quantity(self, section: str, key: str) -> Quantity:
        """The entry ``[section] key`` with its source; ConfigError if the profile lacks it."""
        table = self.sections.get(section)
        if table is None:
            raise ConfigError(f"{self.name}: section", f"no section [{section}] in {self.path.name}",
                              valid=sorted(self.sections))
        if key not in table:
            raise ConfigError(f"{self.name}: [{section}]", f"no entry {key!r} in {self.path.name}",
                              valid=sorted(table))
        return table[key]

    def value(self, section: str, key: str) -> int | float:
        """The number ``[section] key``; ConfigError (quoting the note) if it is unpublished."""
        q = self.quantity(section, key)
        if q.value is None:
            raise ConfigError(f"{self.name}: [{section}] {key}",
                              f"no value ({q.status}; {q.note or q.source})",
                              remedy="use a chip profile that publishes this number, or supply it yourself")
        return q.value

    def limit(self, key: str) -> int | None:
        """A ``[limits]`` entry as an int, or None when the chip does not publish it."""
        q = self.quantity("limits", key)
        return None if q.value is None else int(q.value)

    def energy_pj(self, operation: str) -> float:
        """Energy of one ``operation`` (a key of ``[energy]``) in picojoules.

        Check ``quantity("energy", operation).is_estimate`` (or :attr:`energy_is_estimate`)
        before quoting it: every Loihi 2 figure is an estimate.
        """
        return float(self.value("energy", operation))

    @property
    def energy_is_estimate(self) -> bool:
        """True when any energy figure of this profile is an estimate."""
        return any(q.is_estimate for q in self.sections.get("energy", {}).values())

    def require_fixed_point(self) -> FixedPointSpec:
        if self.fixed_point is None:
            raise ConfigError("chip", f"{self.name!r} is a {self.kind} target without a fixed-point datapath",
                              valid=[n for n in known_chips() if load_chip(n).fixed_point is not None])
        return self.fixed_point

    # --- fits -----------------------------------------------------------------------
    def core_fit(self, *, neurons: int, axons_in: int = 0, axons_out: int = 0,
                 synapse_bytes: int = 0) -> CoreFit:
        """Compare one core's load with the per-core limits.

        ``neurons`` compartments, ``axons_in`` distinct input axons (fan-in),
        ``axons_out`` output axons (fan-out), ``synapse_bytes`` synaptic memory.
        Limits the chip does not publish are listed in ``unchecked``.
        """
        wanted = {"neurons_per_core": neurons, "axons_in_per_core": axons_in,
                  "axons_out_per_core": axons_out, "synaptic_memory_bytes_per_core": synapse_bytes}
        problems, unchecked = [], []
        for key, need in wanted.items():
            if need < 0:
                raise ConfigError(key, f"must be >= 0, got {need}")
            if key not in self.sections.get("limits", {}):
                unchecked.append(key)
                continue
            cap = self.limit(key)
            if cap is None:
                unchecked.append(key)
            elif need > cap:
                problems.append(f"{key}: {need} > {cap}")
        return CoreFit(fits=not problems, problems=tuple(problems), unchecked=tuple(unchecked))

    def check_core(self, layer: str, *, neurons: int, axons_in: int = 0, axons_out: int = 0,
                   synapse_bytes: int = 0) -> CoreFit:
        """Like :meth:`core_fit`, but raise MappingError naming ``layer`` at the first limit exceeded."""
        fit = self.core_fit(neurons=neurons, axons_in=axons_in, axons_out=axons_out,
                            synapse_bytes=synapse_bytes)
        if not fit.fits:
            key, rest = fit.problems[0].split(": ", 1)
            needed, available = rest.split(" > ")
            raise MappingError(layer, key, int(needed), int(available),
                               remedy="split the layer over more cores (fewer neurons or inputs per core)")
        return fit

    def check_delay(self, layer: str, delay: int) -> None:
        """Raise MappingError if ``delay`` steps exceed the chip's synaptic delay (when published)."""
        cap = self.limit("max_synaptic_delay") if "max_synaptic_delay" in self.sections.get("limits", {}) else None
        if cap is not None and delay > cap:
            raise MappingError(layer, "max_synaptic_delay", delay, cap,
                               remedy="shorten the delay or realise it with relay neurons")

    def check_payload(self, layer: str, bits: int) -> None:
        """Raise MappingError if ``bits``-bit graded payloads (0: binary spikes) exceed what the chip carries
        (``graded_spike_bits``; 0 = binary spikes only)."""
        cap = self.limit("graded_spike_bits") or 0
        if bits > cap:
            raise MappingError(layer, "graded_spike_bits", bits, cap if cap else "binary spikes only (0)",
                               remedy="map onto Loihi 2 (--chip loihi2), or fold for binary spikes (fold --target "
                                      "loihi1)" if not cap else "narrow the payloads (fewer quantiser bits)")


# --- loading ------------------------------------------------------------------------

def known_chips(directory: str | Path | None = None) -> tuple[str, ...]:
    """Names of the profiles in ``directory`` (default: the project's ``hardware/``)."""
    root = Path(directory) if directory is not None else HARDWARE_DIR
    return tuple(sorted(p.stem for p in root.glob("*.toml")))


def load_chip(name: str, directory: str | Path | None = None) -> ChipProfile:
    """Load ``hardware/<name>.toml`` into a :class:`ChipProfile` (cached for the default folder).

    Unknown name -> ConfigError listing the known chips.
    """
    if directory is None:
        return _load_default(name)
    return _load(name, Path(directory))


@functools.lru_cache(maxsize=None)
def _load_default(name: str) -> ChipProfile:
    return _load(name, HARDWARE_DIR)


def _load(name: str, root: Path) -> ChipProfile:
    known = known_chips(root)
    if name not in known:
        raise ConfigError("chip", f"unknown chip {name!r}", valid=known,
                          remedy=f"add hardware/{name}.toml (see hardware/README.md) or pick a known chip")
    return load_chip_file(root / f"{name}.toml")


def load_chip_file(path: str | Path) -> ChipProfile:
    """Parse and validate one profile file."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = _toml.load(fh)
    except _toml.TOMLDecodeError as err:
        raise ConfigError(str(path), f"not valid TOML: {err}") from None
    chip = raw.get("chip")
    if not isinstance(chip, dict):
        raise ConfigError(f"{path.name}: [chip]", "missing (needs name, kind, description)")
    for key in ("name", "kind", "description"):
        if not isinstance(chip.get(key), str):
            raise ConfigError(f"{path.name}: [chip] {key}", "missing or not a string")
    if chip["name"] != path.stem:
        raise ConfigError(f"{path.name}: [chip] name", f"{chip['name']!r} differs from the file name {path.stem!r}")
    if chip["kind"] not in KINDS:
        raise ConfigError(f"{path.name}: [chip] kind", f"unknown kind {chip['kind']!r}", valid=KINDS)
    device = chip.get("device", "neuromorphic" if chip["kind"] == "neuromorphic" else "arithmetic")
    if device not in DEVICES:
        raise ConfigError(f"{path.name}: [chip] device", f"unknown device {device!r}", valid=DEVICES)
    sections: dict[str, dict[str, Quantity]] = {}
    for section, table in raw.items():
        if section == "chip":
            continue
        if not isinstance(table, dict):
            raise ConfigError(f"{path.name}: {section}", "must be a table of entries")
        sections[section] = {key: _quantity(path, section, key, entry) for key, entry in table.items()}
    fixed = _fixed_point(path, sections.get("fixed_point")) if "fixed_point" in sections else None
    if chip["kind"] == "neuromorphic" and fixed is None:
        raise ConfigError(f"{path.name}: [fixed_point]", "a neuromorphic chip needs a fixed-point table")
    return ChipProfile(name=chip["name"], kind=chip["kind"], description=chip["description"],
                       path=path, sections=sections, fixed_point=fixed, device=device)


def _quantity(path: Path, section: str, key: str, entry: Any) -> Quantity:
    where = f"{path.name}: [{section}] {key}"
    if not isinstance(entry, dict):
        raise ConfigError(where, "must be an inline table { value, unit, status, source, note }")
    fields = ("value", "unit", "status", "source", "note", "low", "high")
    unknown = set(entry) - set(fields)
    if unknown:
        raise ConfigError(where, f"unknown fields {sorted(unknown)}", valid=fields)
    status = entry.get("status")
    if status not in STATUSES:
        raise ConfigError(f"{where} status", f"{status!r} is not a status", valid=STATUSES)
    source = entry.get("source")
    if not isinstance(source, str) or not source.strip():
        raise ConfigError(f"{where} source", "every number needs a source")
    value = entry.get("value")
    if status == "unpublished" and value is not None:
        raise ConfigError(f"{where} value", "an unpublished entry has no value")
    if status != "unpublished" and value is None:
        raise ConfigError(f"{where} value", f"missing (status {status!r}); use status 'unpublished' "
                                            "for a number that does not exist")
    for name in ("value", "low", "high"):
        x = entry.get(name)
        if x is not None and (isinstance(x, bool) or not isinstance(x, (int, float))):
            raise ConfigError(f"{where} {name}", f"must be a number, got {x!r}")
    low, high = entry.get("low"), entry.get("high")
    if (low is not None or high is not None) and value is None:
        raise ConfigError(f"{where} low/high", "a range needs a value")
    if (low is not None and low > value) or (high is not None and high < value):
        raise ConfigError(f"{where} low/high", f"the range [{low}, {high}] must contain the value {value}")
    return Quantity(value=value, unit=str(entry.get("unit", "")), status=status, source=source,
                    note=entry.get("note"), low=low, high=high)


def _fixed_point(path: Path, table: Mapping[str, Quantity]) -> FixedPointSpec:
    names = [f.name for f in FixedPointSpec.__dataclass_fields__.values()]
    missing = [n for n in names if n not in table or table[n].value is None]
    if missing:
        raise ConfigError(f"{path.name}: [fixed_point]", f"missing entries {missing}")
    values = {}
    for n in names:
        v = table[n].value
        if not float(v).is_integer():
            raise ConfigError(f"{path.name}: [fixed_point] {n}", f"must be an integer, got {v}")
        values[n] = int(v)
    return FixedPointSpec(**values)
