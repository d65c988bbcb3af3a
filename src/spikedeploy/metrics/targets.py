"""The energy targets of a comparison: every device model, the measurements, the arithmetic bound.

:func:`energy_targets` turns the counted runs into one :class:`~.devices.DeviceEnergy` per
target, keyed by name (``comparison.json`` ``energy.targets``):

- each neuromorphic chip (``loihi1``, ``loihi2``) from the emulator's counts (Lava's equal them
  spike for spike) and the cores the network occupies on it;
- each conventional device model (``h200``, ``jetson_orin_nano``, ``desktop_cpu``) from the
  float run's counts, streamed at batch 1, and the GPUs batched (``h200@256``);
- ``gpu_measured``: NVML's board counter around the float inferences, when a GPU was there
  (basis ``measured``; above idle when the idle power was read);
- ``this_cpu``: the float run's own wall time on this machine's CPU times the ``desktop_cpu``
  profile's power per busy core (basis ``measured time x modelled power``);
- ``gpu_arithmetic``: the 45 nm per-operation figure, basis ``lower bound``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from ..hardware import load_chip
from .devices import DeviceEnergy, Span, arithmetic_bound, conventional, neuromorphic, workload_from_counts


def energy_targets(runs: Mapping[str, Any], energy: Mapping[str, Any], config: Any, *,
                   cores: Mapping[str, int | None], measured: Any = None, threads: int = 1) -> dict[str, DeviceEnergy]:
    """The targets (module docstring). ``runs``: BackendRuns by name ("float", "emulator");
    ``energy``: the per-operation estimates by chip; ``cores``: cores per chip (None: unknown,
    taken as 1); ``measured``: an NVML measurement or None; ``threads``: CPU threads of the run."""
    chip_work = workload_from_counts(runs["emulator"].counts)
    float_work = workload_from_counts(runs["float"].counts)
    out: dict[str, DeviceEnergy] = {}
    for chip in config.chips:
        d = neuromorphic(chip, chip_work, energy[chip].total_j, cores=cores.get(chip) or 1)
        if cores.get(chip) is None:
            d = dataclasses.replace(d, assumptions=d.assumptions + ("cores unknown (the mapping failed): 1 assumed",))
        out[chip] = d
    for name in config.devices:
        out[name] = conventional(name, float_work)
        if config.batched > 1 and load_chip(name).device == "gpu":
            out[f"{name}@{config.batched}"] = conventional(name, float_work, batch=config.batched)
    if measured is not None:
        out["gpu_measured"] = _measured(measured)
    run = runs["float"]
    if str(run.device).startswith("cpu"):
        out["this_cpu"] = _this_cpu(run, threads)
    out["gpu_arithmetic"] = arithmetic_bound(run.counts, config.gpu)
    return out


def _measured(m: Any) -> DeviceEnergy:
    above = m.above_idle_joules_per_inference
    use_above = above is not None and above >= 0
    j = above if use_above else m.joules_per_inference
    what = ("above the idle power measured before the run" if use_above else
            "whole board, idle included (" + ("no idle reading" if above is None else
                                              "the reading above idle was negative: the run was too short to "
                                              "rise above the idle power's noise") + ")")
    return DeviceEnergy(target=f"gpu_measured ({m.device_name})", kind="gpu", basis="measured", joules=Span(j, j, j),
                        total_joules=Span(*(m.joules_per_inference,) * 3),
                        seconds=Span(*(m.elapsed_s / m.n_inferences,) * 3),
                        assumptions=(f"NVML energy counter, {what}; the float model batched as the comparison "
                                     "ran it",) + tuple(m.assumptions()))


def _this_cpu(run: Any, threads: int) -> DeviceEnergy:
    prof = load_chip("desktop_cpu")
    lo, mid, hi = (prof.span("power", "max_w")[i] - prof.span("power", "idle_w")[2 - i] for i in range(3))
    n = run.counts.n_samples
    per_core = [w / prof.value("power", "cores") * threads for w in (lo, mid, hi)]
    s = run.seconds / n
    return DeviceEnergy(target="this_cpu", kind="cpu", basis="measured time x modelled power",
                        joules=Span(*(p * s for p in per_core)), total_joules=None, seconds=Span(s, s, s),
                        assumptions=(f"the float run's wall time here: {run.seconds:.3g} s for {n} samples "
                                     f"(batched as the comparison ran it), {threads} thread(s)",
                                     f"power: desktop_cpu's (max_w - idle_w) / cores per busy thread "
                                     f"({per_core[1]:.3g} W), a model, not a measurement of this CPU"))
