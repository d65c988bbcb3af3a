"""The records of a three-way comparison (float PyTorch, the bit-exact emulator, Lava) and
its settings: what the compare stage (:mod:`spikedeploy.stages.compare`) produces and the
report (:mod:`.report`) writes out. Plain data over :class:`~spikedeploy.metrics.records.RunCounts`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError
from ..hardware import known_chips, load_chip
from .devices import DeviceEnergy, Span, ratio
from .energy import EnergyEstimate
from .nvml import GpuEnergyMeasurement
from .records import RunCounts

#: The three runs of the deployed model, in table order; "gpn" is the optional fourth
#: column (the GPN before folding).
BACKENDS = ("float", "emulator", "lava")
NOT_MEASURED = "not measured: no NVIDIA GPU"


def relative_difference(reference: float | None, value: float | None) -> float | None:
    """``(value - reference) / reference``; 0 when both are 0, inf when only the reference is 0,
    None when either is missing."""
    if reference is None or value is None:
        return None
    if reference == 0:
        return 0.0 if value == 0 else math.copysign(math.inf, value)
    return (value - reference) / reference


@dataclass(frozen=True)
class CompareConfig:
    """How to compare.

    chips          neuromorphic profiles (``hardware/<name>.toml``) to estimate energy on
    gpu            the per-operation profile of the conventional side (45 nm MAC/AC: the arithmetic
                   lower bound, shown apart from the device models)
    devices        conventional device models to compare with (``[chip] device`` gpu / cpu /
                   accelerator; :mod:`spikedeploy.metrics.devices`), streamed at batch 1
    batched        also model the GPU devices batched this many samples per call (0: not)
    device         where the float model runs: ``auto`` (CUDA when present), ``cpu``, ``cuda[:N]``
    batch_size     samples per batch (float, GPN and emulator runs)
    raster_sample  which compared sample (position in the results' sample list) the raster shows
    measure_gpu    read NVML's energy counter around the float inferences when a GPU is present
    gpu_min_seconds  repeat the float inferences until the measurement lasts this long
    """

    chips: tuple[str, ...] = ("loihi1", "loihi2")
    gpu: str = "gpu"
    devices: tuple[str, ...] = ("h200", "jetson_orin_nano", "desktop_cpu")
    batched: int = 256
    device: str = "auto"
    batch_size: int = 128
    raster_sample: int = 0
    measure_gpu: bool = True
    gpu_min_seconds: float = 2.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "chips", tuple(self.chips))
        object.__setattr__(self, "devices", tuple(self.devices))
        if int(self.batched) < 0:
            raise ConfigError("compare.batched", f"must be >= 0, got {self.batched}")
        if not self.chips:
            raise ConfigError("compare.chips", "give at least one neuromorphic chip")
        if int(self.batch_size) < 1:
            raise ConfigError("compare.batch_size", f"must be >= 1, got {self.batch_size}")
        if int(self.raster_sample) < 0:
            raise ConfigError("compare.raster_sample", f"must be >= 0, got {self.raster_sample}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["chips"] = list(self.chips)
        d["devices"] = list(self.devices)
        return d


def check_chips(config: CompareConfig) -> None:
    """Load every profile named in ``config`` now (ConfigError listing the known chips), and
    check that the chips are neuromorphic and the GPU profile conventional."""
    for name in config.chips:
        prof = load_chip(name)
        if prof.kind != "neuromorphic":
            raise ConfigError("chip", f"{name!r} is a {prof.kind} profile, not a neuromorphic chip",
                              valid=[c for c in known_chips() if load_chip(c).kind == "neuromorphic"])
    prof = load_chip(config.gpu)
    if prof.device != "arithmetic":
        raise ConfigError("gpu profile", f"{config.gpu!r} is a {prof.device} profile, not a per-operation one",
                          valid=[c for c in known_chips() if load_chip(c).device == "arithmetic"])
    for name in config.devices:
        if load_chip(name).device not in ("gpu", "cpu", "accelerator"):
            raise ConfigError("compare.devices", f"{name!r} is not a device model",
                              valid=[c for c in known_chips() if load_chip(c).device in ("gpu", "cpu", "accelerator")])


@dataclass(frozen=True, eq=False)
class BackendRun:
    """One run of the model on the compared samples."""

    name: str                 # "float", "emulator", "lava", "gpn"
    label: str                # for the report, e.g. "PyTorch float (cpu)"
    counts: RunCounts
    predictions: np.ndarray   # int64 [N]
    accuracy: float
    seconds: float
    device: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "device": self.device, "accuracy": self.accuracy,
                "seconds": self.seconds, "counts": self.counts.to_dict()}


@dataclass(frozen=True)
class LayerComparison:
    """One layer across the runs (per-sample means). ``rate`` in spikes per neuron per step
    (None for the readout); ``synops`` = effective ACs + MACs; ``*_rel`` are relative
    differences of the emulator against the float run (Lava equals the emulator exactly)."""

    name: str
    n_neurons: int
    spiking: bool
    rate: Mapping[str, float | None]
    rate_hz: Mapping[str, float | None]
    acs: Mapping[str, float]
    macs: Mapping[str, float]
    synops: Mapping[str, float]
    dense: Mapping[str, float]
    rate_rel: float | None
    synops_rel: float | None

    def to_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True, eq=False)
class Comparison:
    """Everything the compare stage found; :mod:`spikedeploy.metrics.report` writes it out."""

    runs: Mapping[str, BackendRun]          # "float", "emulator", "lava" (+ "gpn")
    layers: tuple[LayerComparison, ...]
    energy: Mapping[str, EnergyEstimate]    # chip names, "gpu", "gpu_dense" (+ "gpn_gpu", "gpn_gpu_dense")
    gpu_measured: GpuEnergyMeasurement | None
    gpu_status: str                         # "measured" or the reason it was not
    checks: Mapping[str, Any]               # what was verified exactly
    n_samples: int
    n_steps: int
    dt: float
    inputs: Mapping[str, Any]               # paths, hashes, binning, clipped input entries
    raster: Mapping[str, Any]               # one sample: input and spikes, float and Lava
    lava_meta: Mapping[str, Any]
    config: CompareConfig
    versions: Mapping[str, str]
    seconds: float
    targets: Mapping[str, DeviceEnergy] = field(default_factory=dict)   # device models (metrics.devices)
    multiplications: Mapping[str, Any] = field(default_factory=dict)   # source_ops.SourceOps by name
    baseline_accuracy: Mapping[str, float] = field(default_factory=dict)   # test accuracy: source, GRU, LSTM

    @property
    def chips(self) -> tuple[str, ...]:
        return self.config.chips

    def headline(self) -> tuple[str, str, Span] | None:
        """(chip, device, device / chip as a span): the first chip against the first GPU device
        model, streamed at batch 1 (above 1: the chip uses less); None without both."""
        chip = self.chips[0]
        gpu = next((k for k, d in self.targets.items() if d.kind == "gpu" and d.basis == "modelled"
                    and "@" not in k), None)
        if chip not in self.targets or gpu is None:
            return None
        return chip, gpu, ratio(self.targets[gpu].joules, self.targets[chip].joules)

    def energy_ratio(self, chip: str | None = None, gpu_key: str = "gpu") -> float | None:
        """GPU estimate / chip estimate, joules per inference (how many times the chip saves)."""
        chip = chip or self.chips[0]
        chip_j = self.energy[chip].total_j
        return None if chip_j == 0 else self.energy[gpu_key].total_j / chip_j

    def to_dict(self) -> dict[str, Any]:
        ratios = {f"{g}/{c}": self.energy_ratio(c, g) for c in self.chips
                  for g in ("gpu", "gpu_dense", "gpn_gpu", "gpn_gpu_dense") if g in self.energy}
        return {
            "n_samples": self.n_samples, "n_steps": self.n_steps, "dt": self.dt,
            "accuracy": {k: r.accuracy for k, r in self.runs.items()},
            "layers": [l.to_dict() for l in self.layers],
            "energy": {**{k: e.to_dict() for k, e in self.energy.items()},
                       "targets": {k: d.to_dict() for k, d in self.targets.items()}},
            "energy_ratios": ratios,
            "multiplications": {k: m.to_dict() for k, m in self.multiplications.items()},
            "baseline_accuracy": dict(self.baseline_accuracy),
            "energy_headline": None if self.headline() is None else dict(zip(
                ("chip", "device", "device_over_chip"), (*self.headline()[:2], self.headline()[2].to_dict()))),
            "gpu_measured": None if self.gpu_measured is None else self.gpu_measured.to_dict(),
            "gpu_status": self.gpu_status, "checks": dict(self.checks), "inputs": dict(self.inputs),
            "runs": {k: r.to_dict() for k, r in self.runs.items()}, "lava_meta": dict(self.lava_meta),
            "config": self.config.to_dict(), "versions": dict(self.versions), "seconds": self.seconds,
        }


__all__ = ["BACKENDS", "BackendRun", "CompareConfig", "Comparison", "LayerComparison", "NOT_MEASURED",
           "check_chips", "relative_difference"]
