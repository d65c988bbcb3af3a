"""lava-run for a Loihi 2 network file (``fold --target loihi2``): graded spikes between layers.

The file holds the integers (:mod:`spikedeploy.quant.graded_file`) and the binning its
model was trained with; :func:`lava_run_graded` bins the SHD-format data the same way,
streams the samples through ONE Lava run (:func:`spikedeploy.lava_backend.loihi2.run_loihi2`:
no gap between samples, the neurons drop their recurrent input at a reset), reads the
readout and the payloads back, and, with ``verify``, replays the stream in the emulator
(VerificationError at the first difference). The options of a NIR run that have no
meaning here (the float network, a time step, calibration, another binning) are refused
by name, as is ``out`` (the results file is written for NIR graphs only).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import check_outputs
from ..data.sampling import data_file
from ..data.shd import BinningConfig, load_spikes
from ..errors import ConfigError
from ..lava_backend.loihi2 import run_loihi2, verify_loihi2
from ..quant.graded_file import is_graded_file, load_graded
from ..quant.loihi2_emulator import graded_logits
from .lava_run import LavaRunOptions, sample_frames

#: LavaRunOptions fields a Loihi 2 network file takes (the rest must keep their defaults).
_TAKEN = ("model", "data", "samples", "replicas", "verify", "progress", "config", "decays", "converters")
#: The command-line option of each other field, for the message.
_FLAGS = {"out": "--out", "save_voltage": "--save-voltage", "gap_steps": "--gap", "max_gap": "--max-gap",
          "dt": "--dt", "calibrate": "--calibrate", "calib_samples": "--calib-samples",
          "allow_approx": "--allow-approx", "binning": "--time-steps/--duration/--pool/--binary",
          "producer": "--producer"}


@dataclass
class GradedRunSummary:
    """What the run measured: accuracy, non-zero outputs per neuron and step (``rates``) and the
    mean magnitude of those (``levels``) per layer, whether each layer's outputs are ``"graded"``
    or ``"spikes"`` (``outputs``), the timing, and the notes."""

    model: Path
    data: Path
    network: str
    accuracy: float
    n_samples: int
    replicas: int
    rates: dict[str, float]
    levels: dict[str, float]
    outputs: dict[str, str]
    verified: bool | None
    timing: dict[str, float]
    notes: list[str] = field(default_factory=list)
    wall_time_s: float = 0.0

    def format(self) -> str:
        lines = [f"model: {self.model} (Loihi 2 network file: gates computed, graded spikes)", self.network,
                 f"data: {self.data}, {self.n_samples} samples, {self.replicas} stream(s) side by side, no gap",
                 f"accuracy (Lava fixed_pt): {100 * self.accuracy:.2f} %"]
        for name, rate in self.rates.items():
            graded = self.outputs[name] == "graded"
            lines.append(f"  {name}: {'graded payloads' if graded else 'spikes'} out on {rate:.4f} of neuron-steps"
                         + (f", mean |payload| {self.levels[name]:.2f} levels" if graded else
                            " (its state goes to its gates as graded payloads)"))
        if self.verified:
            lines.append("verified: every payload and readout voltage equals the emulator's (bit-exact)")
        lines.append(f"Lava: {self.timing['sample_steps_per_s']:,.0f} sample-steps/s; wall {self.wall_time_s:.1f} s")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def takes(model: str | Path) -> bool:
    """True when ``model`` is a Loihi 2 network file (what this stage runs), not a NIR graph."""
    return is_graded_file(model)


def _check_options(options: LavaRunOptions) -> None:
    defaults = LavaRunOptions(model=options.model, data=options.data)
    wrong = [_FLAGS.get(name, name) for name in LavaRunOptions.__dataclass_fields__ if name not in _TAKEN
             and getattr(options, name) != getattr(defaults, name)]
    if options.config != "fixed_pt":
        wrong.insert(0, "--float")
    if options.decays != "auto":
        wrong.append("--decays")
    if wrong:
        raise ConfigError(", ".join(wrong), f"{options.model} is a Loihi 2 network file: its integers and binning are "
                          "fixed, and these options apply to NIR graphs only",
                          remedy="drop them (lava-run NET.npz --data DATA [--samples N] [--replicas B] [--verify])")


def lava_run_graded(options: LavaRunOptions) -> GradedRunSummary:
    """Run the Loihi 2 network file ``options.model`` on ``options.data`` in Lava (module docstring)."""
    t0 = time.perf_counter()
    _check_options(options)
    data_path = data_file(options.data)
    check_outputs({}, {"model": options.model, "data (--data)": data_path})
    net, _ = load_graded(options.model)
    stored = net.metadata.get("binning")
    if not stored:
        raise ConfigError("binning", f"{options.model} does not record its binning",
                          remedy="fold the checkpoint again with this spikedeploy (fold --target loihi2)")
    spikes = load_spikes(data_path)
    binning = BinningConfig.from_dict({**stored, "n_channels": spikes.n_channels})
    _, x, labels, notes = sample_frames(data_path, spikes, binning, net.input_size, net.output_size, options.samples)
    replicas = options.replicas or max(1, min(64, x.shape[0]))
    run = run_loihi2(net, x, replicas=replicas, progress=options.progress)
    verified = None
    if options.verify:
        verify_loihi2(run)
        verified = True
    pred = graded_logits(net, run.readout()).argmax(1).numpy()
    rates, levels = _payload_stats(run, labels.shape[0])
    outputs = {l.name: "graded" if l.out_bits else "spikes" for l in net.hidden}
    return GradedRunSummary(Path(options.model), data_path, net.summary(), float((pred == labels).mean()),
                            int(labels.shape[0]), replicas, rates, levels, outputs, verified, run.timing, notes,
                            time.perf_counter() - t0)


def _payload_stats(run: Any, n: int) -> tuple[dict[str, float], dict[str, float]]:
    """Per layer, over the samples' windows: the fraction of neuron-steps with a payload, and the
    mean magnitude of the payloads sent."""
    rates, levels = {}, {}
    for depth, name in enumerate(run.payloads, start=1):
        wins = run.layout.cut(run.payloads[name], depth)[:n].astype(np.int64)
        sent = wins != 0
        rates[name] = float(sent.mean())
        levels[name] = float(np.abs(wins[sent]).mean()) if sent.any() else 0.0
    return rates, levels
