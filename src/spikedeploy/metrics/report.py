"""The comparison report: Markdown tables, PNG plots and the numbers as JSON.

:func:`write_report` turns a :class:`~spikedeploy.metrics.comparison.Comparison` into a
folder that reads without the tool::

    report.md          summary, accuracy, per-layer table, energy, assumptions, provenance
    comparison.json    every number (Comparison.to_dict())
    rates.png          firing rate per spiking layer: float, emulator, Lava (, GPN)
    synops.png         synaptic operations per layer (log scale)
    energy.png         energy per inference per target (log scale)
    raster.png         one sample's spikes, PyTorch float next to Lava

:func:`write_index` writes the page that ties several model reports together (the
pipeline's ``report/README.md``). Plots use matplotlib's Agg backend (no display);
every file is written atomically.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..atomic import atomic_path

#: Display names of the runs, in column order.
RUN_TITLES = {"float": "PyTorch float", "emulator": "emulator", "lava": "Lava", "gpn": "GPN (before folding)"}
#: Display names of the energy targets.
ENERGY_TITLES = {
    "loihi1": "Loihi 1 operations (Davies et al. 2018, Table 2)",
    "loihi2": "Loihi 2 operations (ESTIMATE: Loihi 1 figures reused, no published table)",
    "gpu": "arithmetic at 45 nm (Horowitz 2014), effective operations: a lower bound, not a GPU",
    "gpu_dense": "arithmetic at 45 nm, dense (every product a MAC): a lower bound",
    "gpn_gpu": "GPN before folding, arithmetic at 45 nm, effective operations",
    "gpn_gpu_dense": "GPN before folding, arithmetic at 45 nm, dense",
}
FILES = ("report.md", "comparison.json", "rates.png", "synops.png", "energy.png", "raster.png")
COLOURS = {"float": "#4C72B0", "emulator": "#DD8452", "lava": "#55A868", "gpn": "#8172B3"}


# ----------------------------------------------------------------------------- number formatting

def fmt_num(v: float | None, digits: int = 4) -> str:
    """A compact number: thousands separators for large values, ``digits`` significant digits."""
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def fmt_rel(v: float | None) -> str:
    """A relative difference as a signed percentage."""
    if v is None:
        return "-"
    if math.isinf(v):
        return "+inf" if v > 0 else "-inf"
    return f"{100 * v:+.2f} %"


def fmt_energy(j: float | None) -> str:
    """Joules in the unit that reads best (pJ, nJ, µJ, mJ, J)."""
    if j is None:
        return "-"
    if j == 0:
        return "0 J"
    for unit, scale in (("J", 1.0), ("mJ", 1e-3), ("µJ", 1e-6), ("nJ", 1e-9)):
        if abs(j) >= scale:
            return f"{j / scale:.4g} {unit}"
    return f"{j / 1e-12:.4g} pJ"


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> list[str]:
    align = align or ("l" + "r" * (len(head) - 1))
    sep = ["---:" if a == "r" else ":---:" if a == "c" else "---" for a in align]
    out = ["| " + " | ".join(head) + " |", "| " + " | ".join(sep) + " |"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


# ----------------------------------------------------------------------------- plots

def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    plt = _pyplot()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def _grouped_bars(ax: Any, groups: Sequence[str], series: Mapping[str, Sequence[float | None]]) -> None:
    n = max(len(series), 1)
    width = 0.8 / n
    x = np.arange(len(groups))
    for i, (key, values) in enumerate(series.items()):
        vals = [np.nan if v is None else v for v in values]
        ax.bar(x + (i - (n - 1) / 2) * width, vals, width, label=RUN_TITLES.get(key, key),
               color=COLOURS.get(key))
    ax.set_xticks(x)
    ax.set_xticklabels(groups)
    ax.legend(fontsize=8)


def plot_rates(cmp: Any, path: Path) -> Path:
    plt = _pyplot()
    layers = [l for l in cmp.layers if l.spiking]
    fig, ax = plt.subplots(figsize=(max(5.5, 1.8 + 1.6 * len(layers)), 3.4))
    keys = [k for k in ("float", "emulator", "lava", "gpn") if k in cmp.runs]
    _grouped_bars(ax, [l.name for l in layers], {k: [l.rate.get(k) for l in layers] for k in keys})
    ax.set_ylabel("spikes per neuron per step")
    ax.set_title(f"Firing rate per layer ({cmp.n_samples} samples, dt = {cmp.dt * 1e3:g} ms)")
    _save(fig, path)
    return path


def plot_synops(cmp: Any, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.5, 1.8 + 1.6 * len(cmp.layers)), 3.4))
    keys = [k for k in ("float", "emulator", "lava", "gpn") if k in cmp.runs]
    _grouped_bars(ax, [l.name for l in cmp.layers], {k: [l.synops.get(k) for l in cmp.layers] for k in keys})
    ax.set_yscale("log")
    ax.set_ylabel("effective SynOps per inference (ACs + MACs)")
    ax.set_title("Synaptic operations per layer")
    _save(fig, path)
    return path


KIND_COLOURS = {"neuromorphic": "#55A868", "gpu": "#4C72B0", "cpu": "#DD8452", "accelerator": "#8172B3"}


def plot_energy(cmp: Any, path: Path) -> Path:
    """Dynamic joules per inference of every target, expected with the low-high range (log scale);
    measured in red, the arithmetic lower bound hatched."""
    plt = _pyplot()
    targets = cmp.targets
    keys = list(targets)
    mid = [max(targets[k].joules.expected, 1e-18) for k in keys]
    err = [[m - max(targets[k].joules.low, 1e-18) for k, m in zip(keys, mid)],
           [targets[k].joules.high - m for k, m in zip(keys, mid)]]
    colours = ["#C44E52" if targets[k].basis == "measured" else KIND_COLOURS.get(targets[k].kind, "#999999")
               for k in keys]
    fig, ax = plt.subplots(figsize=(1.8 + 1.1 * len(keys), 3.8))
    bars = ax.bar(np.arange(len(keys)), mid, color=colours, yerr=err, capsize=3, ecolor="#333333")
    for b, k, v in zip(bars, keys, mid):
        if targets[k].basis == "lower bound":
            b.set_hatch("//")
            b.set_facecolor("white")
            b.set_edgecolor("#4C72B0")
        ax.annotate(fmt_energy(v), (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(np.arange(len(keys)))
    ax.set_xticklabels([k.replace("_", "\n").replace("@", "\n@") for k in keys], fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("joules per inference (dynamic)")
    ax.set_title("Energy per inference: device models (bars: expected, whiskers: range)")
    _save(fig, path)
    return path


def _raster_panel(ax: Any, spikes: np.ndarray, cmap: str, title: str, ylabel: str) -> None:
    """Spikes [T, n] as an image: one column per step, one row per neuron (dark = spike)."""
    img = np.asarray(spikes, dtype=float)
    if img.size == 0:
        img = np.zeros((1, 1))
    ax.imshow(img.T, aspect="auto", origin="lower", interpolation="nearest", cmap=cmap, vmin=0,
              vmax=max(float(img.max()), 1.0), extent=(-0.5, img.shape[0] - 0.5, -0.5, img.shape[1] - 0.5))
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(ylabel)


def plot_raster(cmp: Any, path: Path) -> Path:
    plt = _pyplot()
    r = cmp.raster
    names = [l.name for l in cmp.layers if l.spiking]
    fig, axes = plt.subplots(1 + len(names), 2, figsize=(10, 2.2 + 2.0 * len(names)), squeeze=False,
                             sharex=True)
    x = np.asarray(r["input"])
    _raster_panel(axes[0, 0], x, "Greys", f"input frames, float model ({int(x.sum())} events)", "channel")
    _raster_panel(axes[0, 1], x > 0, "Greys", f"input, binary, to the chip ({int((x > 0).sum())} spikes)",
                  "channel")
    for row, name in enumerate(names, start=1):
        for col, (key, title, cmap) in enumerate((("float", "PyTorch float", "Blues"), ("lava", "Lava", "Greens"))):
            spikes = np.asarray(r[key].get(name, np.zeros((0, 0), bool)))
            _raster_panel(axes[row, col], spikes, cmap, f"{name}: {title} ({int(spikes.sum())} spikes)", "neuron")
    for col in range(2):
        axes[-1, col].set_xlabel(f"step (dt = {cmp.dt * 1e3:g} ms)")
    preds = r.get("predictions", {})
    fig.suptitle(f"Sample {r['sample_index']} of the data file (label {r['label']}; predicted: "
                 + ", ".join(f"{RUN_TITLES.get(k, k)} {v}" for k, v in preds.items()) + ")", fontsize=10)
    _save(fig, path)
    return path


# ----------------------------------------------------------------------------- Markdown

def _accuracy_section(cmp: Any) -> list[str]:
    rows = []
    for key in ("gpn", "float", "emulator", "lava"):
        if key not in cmp.runs:
            continue
        run = cmp.runs[key]
        rows.append([run.label, f"{100 * run.accuracy:.2f} %", cmp.n_samples,
                     f"{run.seconds:.2f} s" if key != "lava" else f"{run.seconds:.1f} s (lava-run wall time)"])
    out = ["## Accuracy", "", f"On the {cmp.n_samples} samples of the Lava run (the same samples in every row).", ""]
    out += _table(["run", "accuracy", "samples", "time"], rows)
    fold = cmp.inputs.get("fold")
    if fold and fold.get("test_accuracy"):
        out += ["", "Folding record of the checkpoint (its own test-file evaluation): "
                + ", ".join(f"{k} {100 * v:.2f} %" for k, v in fold["test_accuracy"].items() if v is not None) + "."]
    return out


def _layer_section(cmp: Any) -> list[str]:
    keys = [k for k in ("float", "emulator", "lava", "gpn") if k in cmp.runs]
    head = ["layer", "neurons"] + [f"rate {RUN_TITLES[k]}" for k in keys] + ["rate emu vs float"] \
        + [f"SynOps {RUN_TITLES[k]}" for k in keys] + ["SynOps emu vs float", "dense ops (chip)"]
    rows = []
    for l in cmp.layers:
        rows.append([f"`{l.name}`", l.n_neurons]
                    + [fmt_num(l.rate.get(k)) for k in keys] + [fmt_rel(l.rate_rel)]
                    + [fmt_num(l.synops.get(k)) for k in keys] + [fmt_rel(l.synops_rel)]
                    + [fmt_num(l.dense.get("emulator"))])
    tot = {k: cmp.runs[k].counts for k in keys}
    rel = None
    if tot["float"].synops.effective_ops:
        rel = (tot["emulator"].synops.effective_ops - tot["float"].synops.effective_ops) / \
            tot["float"].synops.effective_ops
    rate_rel = None
    if tot["float"].spikes.rate_per_step:
        rate_rel = (tot["emulator"].spikes.rate_per_step - tot["float"].spikes.rate_per_step) / \
            tot["float"].spikes.rate_per_step
    rows.append(["**total**", ""] + [fmt_num(tot[k].spikes.rate_per_step) for k in keys] + [fmt_rel(rate_rel)]
                + [fmt_num(tot[k].synops.effective_ops) for k in keys] + [fmt_rel(rel)]
                + [fmt_num(tot["emulator"].synops.dense_ops)])
    out = ["## Per layer: firing rate and synaptic operations", "",
           "Rates in spikes per neuron per step (the readout does not spike); SynOps are effective "
           "operations per inference (NeuroBench's rules: ACs for spike inputs, MACs for graded inputs), "
           "feed-forward plus recurrent" + (" (and the GPN's gates)" if "gpn" in keys else "") + ". The emulator "
           "and Lava columns must be equal: they were checked spike for spike; the float column differs by the "
           "quantisation.", ""]
    out += _table(head, rows)
    acs_macs = []
    for k in [k for k in keys if k != "gpn"]:
        c = tot[k].synops
        active = fmt_num(tot[k].neuron_updates.active_per_sample) if k != "lava" else \
            "as the emulator (no state trace in the results)"
        acs_macs.append([RUN_TITLES[k], fmt_num(c.effective_acs), fmt_num(c.effective_macs), fmt_num(c.dense_ops),
                         fmt_num(tot[k].sparsity.sparsity), active])
    if "gpn" in cmp.runs:
        c = cmp.runs["gpn"].counts
        acs_macs.append([RUN_TITLES["gpn"] + ", gates included", fmt_num(c.synops.effective_acs),
                         fmt_num(c.synops.effective_macs), fmt_num(c.synops.dense_ops), fmt_num(c.sparsity.sparsity),
                         fmt_num(c.neuron_updates.active_per_sample)])
    out += ["", "Per inference, all layers:", ""]
    out += _table(["run", "effective ACs", "effective MACs", "dense ops", "activation sparsity",
                   "active neuron updates"], acs_macs)
    if "gpn" in cmp.runs:
        gp = cmp.runs["gpn"].counts
        rows = []
        for name, e in gp.synops.per_layer.items():
            rows.append([f"`{name}`", fmt_num(e.effective_acs), fmt_num(e.effective_macs), fmt_num(e.dense_ops)])
        out += ["", "The GPN before folding, per connection (its gates read the real-valued `[v, x]` every "
                    "step: dense MACs, not event-driven):", ""]
        out += _table(["connection", "effective ACs", "effective MACs", "dense ops"], rows)
    return out


def energy_headline(cmp: Any) -> str:
    """One sentence: the first chip against the first GPU model at batch 1, with the range."""
    head = cmp.headline()
    if head is None:
        return "no device model to compare with"
    chip, gpu, r = head
    c, g = cmp.targets[chip].joules, cmp.targets[gpu].joules
    return (f"{chip} {fmt_energy(c.expected)} ({fmt_energy(c.low)} to {fmt_energy(c.high)}) against {gpu} streamed "
            f"at batch 1 {fmt_energy(g.expected)} ({fmt_energy(g.low)} to {fmt_energy(g.high)}): the chip uses "
            f"{r.expected:.3g}x less (range {r.low:.2g}x to {r.high:.3g}x; device models, dynamic energy, "
            "docs/energy.md)")


def _targets_section(cmp: Any) -> list[str]:
    rows = [[f"`{k}`", d.kind, d.basis, fmt_energy(d.joules.expected),
             f"{fmt_energy(d.joules.low)} to {fmt_energy(d.joules.high)}",
             "-" if d.total_joules is None else fmt_energy(d.total_joules.expected),
             "-" if d.seconds is None else f"{d.seconds.expected * 1e3:.3g} ms"] for k, d in cmp.targets.items()]
    out = ["## Energy per inference", "", energy_headline(cmp) + ".", "",
           "Device models (`spikedeploy.metrics.devices`, numbers from `hardware/*.toml` with their sources; "
           "docs/energy.md checks them against measured hardware): dynamic energy (above idle) per inference, "
           "expected and range; the total adds idle / static power over the time taken. `gpu_arithmetic` is "
           "the arithmetic alone at 45 nm, a lower bound of any conventional device, not a device.", ""]
    out += _table(["target", "kind", "basis", "per inference", "range", "with idle", "time"], rows, "lllrrrr")
    return out + [""]


#: Display names of the networks counted on conventional hardware.
MULT_TITLES = {"deployed": "deployed network (folded, float)", "source": "source network (before folding)",
               "gru": "GRU, same width", "lstm": "LSTM, same width"}


def _multiplications_section(cmp: Any) -> list[str]:
    """Multiplications apart from accumulates on conventional hardware (metrics.source_ops)."""
    m = cmp.multiplications
    if not m:
        return []
    gru = m["gru"].multiplications if "gru" in m else None
    acc = {"deployed": cmp.runs["float"].accuracy, **dict(cmp.baseline_accuracy)}
    rows = [[MULT_TITLES.get(k, k), "-" if k not in acc else f"{100 * acc[k]:.2f} %", fmt_num(o.multiplications),
             fmt_num(o.accumulates), fmt_num(o.nonlinear),
             "-" if not gru or not o.multiplications else f"{gru / o.multiplications:.3g}x"] for k, o in m.items()]
    out = ["### On conventional hardware: multiplications per inference", "",
           "The networks as a GPU or CPU runs them (`spikedeploy.metrics.source_ops`): binary inputs accumulate, "
           "graded ones (pr-v2's multi-bit outputs, a GPN's gates) multiply; GRU and LSTM of the same width "
           "counted dense. Ponghiran & Roy's claim for pr-v2 is over 10x fewer multiplications than a GRU at "
           "LSTM-level accuracy. Accuracy: the deployed network on these samples, the source network and the "
           "baselines on the whole test split (the baselines trained by the pipeline's baselines stage).", ""]
    out += _table(["network", "accuracy", "multiplications", "accumulates", "sigmoid / tanh", "GRU / this"], rows,
                  "lrrrrr")
    for k, o in m.items():
        if k in ("deployed", "source"):
            out += ["", f"{MULT_TITLES[k]}: " + "; ".join(o.assumptions) + "."]
    return out + [""]


def _energy_section(cmp: Any) -> list[str]:
    rows = []
    for key, e in cmp.energy.items():
        status = "ESTIMATED per-operation figures" if e.estimate_only else "published per-operation figures"
        rows.append([ENERGY_TITLES.get(key, key), fmt_energy(e.total_j), fmt_energy(e.synaptic_j),
                     fmt_energy(e.neuron_j), fmt_energy(e.spike_j), status])
    if cmp.gpu_measured is not None:
        m = cmp.gpu_measured
        rows.append([f"GPU measured (NVML, {m.device_name})", fmt_energy(m.joules_per_inference), "", "", "",
                     "measured, whole board"])
    else:
        rows.append(["GPU measured (NVML)", cmp.gpu_status, "", "", "", ""])
    out = (_targets_section(cmp) if cmp.targets else []) + _multiplications_section(cmp)
    out += ["### Operation counts x energy per operation" if cmp.targets else "## Energy per inference", "",
            "Arithmetic and events only (no per-step overhead, memory traffic or idle power): the chips' "
            "figures are the operations part of their device models, the GPU side's a lower bound. Chip energy "
            "from the emulator's counts with its exact `u`/`v` trace (the Lava run is identical spike for "
            "spike); GPU energy from the float run's counts. Per inference = per sample.", ""]
    out += _table(["target", "per inference", "synaptic", "neuron updates", "spikes", "status"], rows, "lrrrrl")
    chip0 = cmp.chips[0]
    ratios = []
    for c in cmp.chips:
        for g in ("gpu", "gpu_dense", "gpn_gpu", "gpn_gpu_dense"):
            if g in cmp.energy:
                r = cmp.energy_ratio(c, g)
                ratios.append([ENERGY_TITLES.get(g, g), c, "-" if r is None else f"{r:.3g}x"])
    if cmp.gpu_measured is not None and cmp.energy[chip0].total_j:
        ratios.append(["GPU measured (NVML)", chip0,
                       f"{cmp.gpu_measured.joules_per_inference / cmp.energy[chip0].total_j:.3g}x"])
    out += ["", "Ratio of these figures (GPU side / chip; above 1: the chip uses less; arithmetic only, not "
                "devices):", ""]
    out += _table(["GPU side", "chip", "ratio"], ratios, "llr")
    keys = [k for k in cmp.energy if all(l.name in cmp.energy[k].per_layer for l in cmp.layers)]
    per_layer = [[f"`{l.name}`"] + [fmt_energy(cmp.energy[k].per_layer[l.name].total_j) for k in keys]
                 for l in cmp.layers]
    out += ["", "Per layer (per inference):", ""]
    out += _table(["layer"] + keys, per_layer)
    return out


def _assumptions_section(cmp: Any) -> list[str]:
    out = ["## Assumptions", ""]
    for key, d in cmp.targets.items():
        out += [f"**Device model `{key}`** ({d.basis})", ""] + [f"- {line}" for line in d.assumptions] + [""]
    for key, e in cmp.energy.items():
        out.append(f"**{ENERGY_TITLES.get(key, key)}**")
        out.append("")
        out += [f"- {line}" for line in e.assumptions]
        out.append("")
    out.append("**GPU measurement**")
    out.append("")
    if cmp.gpu_measured is not None:
        out += [f"- {line}" for line in cmp.gpu_measured.assumptions()]
        m = cmp.gpu_measured
        if m.above_idle_joules_per_inference is not None:
            out.append(f"- above idle: {fmt_energy(m.above_idle_joules_per_inference)} per inference")
    else:
        out.append(f"- {cmp.gpu_status}")
    out.append("")
    out.append("**Counting**")
    out.append("")
    clipped = cmp.inputs.get("input_entries_clipped", 0)
    out += ["- counts follow NeuroBench's rules (docs/metrics.md): bias not counted, per-sample means, "
            "recurrent connections read the previous step's spikes",
            f"- the chip's input is binary: the float model read the binned frames, the emulator and Lava "
            f"`x > 0` ({clipped} input entries above 1 were clipped to one spike)",
            "- the float run's active/inactive neuron split uses its float state (rarely exactly zero); the "
            "emulator's uses its integer `u`/`v` (decays reach zero)"]
    ovf = {k: v for k, v in (cmp.inputs.get("emulator_overflow") or {}).items() if any(v.values())}
    if ovf:
        out.append(f"- emulator overflow counts (a_in beyond 16 bits, readout spikes): {ovf}")
    return out


def _provenance_section(cmp: Any, command: str | None, extra: Mapping[str, Any] | None) -> list[str]:
    inp = cmp.inputs
    files = [["deployed checkpoint", f"`{inp['checkpoint']}`", f"`{inp['checkpoint_sha256'][:16]}…`"],
             ["quantised model (NIR)", f"`{inp['nir']}`", f"`{inp['model_sha256'][:16]}…`"],
             ["data", f"`{inp['data']}`", f"`{inp['data_sha256'][:16]}…`"],
             ["Lava results", f"`{inp['results']}`", f"`{inp['results_sha256'][:16]}…`"]]
    if inp.get("gpn"):
        files.append(["GPN before folding", f"`{inp['gpn']['path']}`", f"`{inp['gpn']['sha256'][:16]}…`"])
    lm = cmp.lava_meta
    out = ["## How this was made", ""]
    if command:
        out += ["```", command, "```", ""]
    out += _table(["input", "path", "sha256"], files, "lll")
    out += ["", "Lava run: " + ", ".join(f"{k} {lm.get(k)}" for k in ("config", "replicas", "gap_steps", "n_steps",
                                                                    "dt", "decays", "network_source", "reference",
                                                                    "verified", "wall_time_s", "created")
                                          if k in lm) + ".",
            f"Binning: {json.dumps(inp['binning'])}.",
            f"Float model device: {inp['device']}; compare took {cmp.seconds:.1f} s.", ""]
    out += _table(["package", "version"], [[k, v] for k, v in cmp.versions.items()], "ll")
    if extra:
        out += ["", "Pipeline:", ""] + [f"- {k}: {v}" for k, v in extra.items()]
    return out


def render_markdown(cmp: Any, *, title: str | None = None, command: str | None = None,
                    extra: Mapping[str, Any] | None = None) -> str:
    """The report's Markdown (the PNGs are referenced by their file names)."""
    checks = cmp.checks
    model = Path(cmp.inputs["checkpoint"]).name
    ratio = cmp.energy_ratio()
    chip0 = cmp.chips[0]
    lines = [f"# {title or f'Comparison report: {model}'}", "",
             f"Generated {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')} by spikedeploy "
             f"{cmp.versions.get('spikedeploy')}.", "",
             "## Summary", "",
             f"- {cmp.n_samples} samples of `{Path(cmp.inputs['data']).name}`, {cmp.n_steps} steps of "
             f"{cmp.dt * 1e3:g} ms each.",
             f"- The float PyTorch model ran on **{cmp.inputs['device']}**"
             + (" (no CUDA device: the CPU)" if cmp.inputs['device'] == "cpu" else "") + ".",
             f"- Lava against the emulator: **identical** ({', '.join(checks.get('checked', []))}; "
             f"counts equal: {', '.join(checks.get('counts_equal', []))}).",
             *([f"- Lava ran with **per-neuron decays** (`decays = per-neuron`: one LIF process per layer, a "
                f"simulation-only option; on Loihi the decays come from a few per-core neuron profiles)."]
               if cmp.lava_meta.get("decays") == "per-neuron" else []),
             "- Accuracy: " + ", ".join(f"{RUN_TITLES.get(k, k)} {100 * r.accuracy:.2f} %" for k, r in cmp.runs.items())
             + ".",
             *([f"- Energy per inference: {energy_headline(cmp)}."] if cmp.targets else []),
             f"- Operations alone: {chip0} {fmt_energy(cmp.energy[chip0].total_j)}, arithmetic at 45 nm (a lower "
             f"bound, not a GPU) {fmt_energy(cmp.energy['gpu'].total_j)}"
             + ("" if ratio is None else f" (ratio {ratio:.3g}x)") + "; GPU measured: "
             + (fmt_energy(cmp.gpu_measured.joules_per_inference) if cmp.gpu_measured else cmp.gpu_status) + ".",
             ""]
    lines += _accuracy_section(cmp) + [""]
    lines += _layer_section(cmp) + [""]
    lines += ["![Firing rate per layer](rates.png)", "", "![SynOps per layer](synops.png)", ""]
    lines += _energy_section(cmp) + [""]
    lines += ["![Energy per inference](energy.png)", ""]
    lines += ["## One sample's spikes", "",
              "The same sample in the float PyTorch model and in Lava (the quantised network): spikes move "
              "where the quantisation changes the dynamics.", "", "![Raster](raster.png)", ""]
    lines += _assumptions_section(cmp) + [""]
    lines += _provenance_section(cmp, command, extra) + [""]
    return "\n".join(lines)


def write_report(cmp: Any, out_dir: str | Path, *, title: str | None = None, command: str | None = None,
                 extra: Mapping[str, Any] | None = None) -> Path:
    """Write the report folder (module docstring); return the path of ``report.md``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot_rates(cmp, out / "rates.png")
    plot_synops(cmp, out / "synops.png")
    plot_energy(cmp, out / "energy.png")
    plot_raster(cmp, out / "raster.png")
    data = cmp.to_dict()
    if command:
        data["command"] = command
    if extra:
        data["pipeline"] = dict(extra)
    with atomic_path(out / "comparison.json") as tmp:
        tmp.write_text(json.dumps(data, indent=1, default=_json_default) + "\n")
    md = out / "report.md"
    with atomic_path(md) as tmp:
        tmp.write_text(render_markdown(cmp, title=title, command=command, extra=extra))
    return md


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


# ----------------------------------------------------------------------------- several models

def _index_energy(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """The index's energy tables: the device models (expected, with the headline ratio's range),
    then the operations alone (chips' operations, arithmetic at 45 nm: a lower bound)."""
    if not entries:
        return []
    first = entries[0]["summary"]
    chips = list(first["config"]["chips"])
    targets = list((first["energy"].get("targets") or {}))
    def span(d: Mapping[str, Any]) -> str:
        j = d["joules_per_inference"]
        return f"{fmt_energy(j['expected'])} ({fmt_energy(j['low'])} to {fmt_energy(j['high'])})"

    device_rows, op_rows = [], []
    for e in entries:
        d = e["summary"]
        t, head, en = d["energy"].get("targets") or {}, d.get("energy_headline"), d["energy"]
        r = None if head is None else head["device_over_chip"]
        device_rows.append([e["name"]] + [span(t[k]) if k in t else "-" for k in targets]
                           + ["-" if r is None else f"{r['expected']:.3g}x ({r['low']:.2g}x to {r['high']:.3g}x)"])
        ratio = d["energy_ratios"].get(f"gpu/{chips[0]}")
        op_rows.append([e["name"]] + [fmt_energy(en[c]["joules_per_inference"]) for c in chips]
                       + [fmt_energy(en["gpu"]["joules_per_inference"]), "-" if ratio is None else f"{ratio:.3g}x"])
    head = first.get("energy_headline")
    lines = ["", "## Energy per inference", "",
             "Device models (docs/energy.md: each number's source in hardware/*.toml, checked against Blouw et al. "
             "2019's measurements): dynamic joules per inference, expected (low to high); streamed at batch 1 "
             "unless `@B` (batched B per call). Each model's report lists the assumptions.", ""]
    lines += _table(["model"] + [f"`{k}`" for k in targets]
                    + ["-" if head is None else f"{head['device']} / {head['chip']}"], device_rows)
    lines += ["", "Operations alone (counted operations x energy per operation; the 45 nm column is the arithmetic "
              "of the float run, a lower bound of any conventional device, not a GPU):", ""]
    est = first["energy"]
    heads = [c + (" (ESTIMATE)" if est.get(c, {}).get("estimate_only") else "") for c in chips]
    return lines + _table(["model"] + heads + ["arithmetic 45 nm", f"arithmetic / {chips[0]}"], op_rows)


def _index_multiplications(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """The source networks on conventional hardware against a GRU and an LSTM of the same width."""
    rows, base = [], {}
    for e in entries:
        m, acc = e["summary"].get("multiplications") or {}, e["summary"].get("baseline_accuracy") or {}
        if not m:
            continue
        # the baselines' rows: the first model's (the baselines stage trains at its width, on its data)
        base = base or {k: (acc.get(k), m[k]["multiplications"]) for k in ("gru", "lstm") if k in m}
        key = "source" if "source" in m else "deployed"
        src_acc = acc.get("source") if key == "source" else e["summary"]["accuracy"]["float"]
        ratio = m["gru"]["multiplications"] / m[key]["multiplications"] if m[key]["multiplications"] else None
        rows.append([e["name"], key, "-" if src_acc is None else f"{100 * src_acc:.2f} %",
                     fmt_num(m[key]["multiplications"]), fmt_num(m[key]["accumulates"]),
                     "-" if ratio is None else f"{ratio:.3g}x"])
    if not rows:
        return []
    gru = base["gru"][1]
    rows += [[cell.upper(), "same width, dense", "-" if a is None else f"{100 * a:.2f} %", fmt_num(mult), "",
              f"{gru / mult:.3g}x"] for cell, (a, mult) in base.items()]
    return ["", "## On conventional hardware: multiplications per inference", "",
            "Each model's network before folding (after, for the LIF) as a GPU or CPU runs it: binary inputs "
            "accumulate, graded ones (pr-v2's multi-bit outputs, a GPN's gates) multiply "
            "(`spikedeploy.metrics.source_ops`); a GRU and an LSTM of the same width trained on the same frames "
            "as long as the longest model (the baselines stage; longer runs: docs/benchmarks.md) and counted "
            "dense. Ponghiran & Roy's claim: pr-v2 needs over 10x fewer multiplications than a GRU at LSTM-level "
            "accuracy. Accuracy on the whole test split.", ""] + _table(
        ["model", "network", "test accuracy", "multiplications", "accumulates", "GRU / this"], rows)


def write_index(out_dir: str | Path, entries: Sequence[Mapping[str, Any]], *, title: str = "spikedeploy pipeline",
                stages: Sequence[Mapping[str, Any]] = (), command: str | None = None,
                notes: Sequence[str] = ()) -> Path:
    """``README.md`` tying several model reports together.

    ``entries``: one per model, with ``name``, ``report`` (path of its report.md; links are
    made relative to ``out_dir``), ``summary`` (its ``comparison.json`` contents, i.e.
    ``Comparison.to_dict()``) and optionally ``accuracy`` (an ordered
    ``{stage: {"acc", "on"}}`` chain, e.g. trained, folded, emulator, Lava).
    ``stages``: rows of ``{"stage", "status", "seconds"[, "cpu_seconds"]}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# {title}", "", f"Generated {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}.", ""]
    if command:
        lines += ["```", command, "```", ""]
    rows = []
    for e in entries:
        d = e["summary"]
        report = Path(e["report"]).resolve()
        try:
            rel = report.relative_to(out.resolve()).as_posix()
        except ValueError:
            rel = str(report)
        acc = d["accuracy"]
        emu = d["runs"]["emulator"]["counts"]["totals_per_sample"]
        rate = d["runs"]["emulator"]["counts"]["rate_per_step"]
        rows.append([f"[{e['name']}]({rel})", d["n_samples"], f"{100 * acc['float']:.2f} %",
                     f"{100 * acc['emulator']:.2f} %", f"{100 * acc['lava']:.2f} %", fmt_num(rate),
                     fmt_num(emu["effective_acs"] + emu["effective_macs"])])
    lines += ["## Models", "",
              "Accuracy, firing rate and SynOps on the test samples of each model's Lava run; the chip "
              "columns (emulator = Lava, checked spike for spike):", ""]
    lines += _table(["model", "samples", "float acc.", "emulator acc.", "Lava acc.", "rate / step (chip)",
                     "SynOps / inference (chip)"], rows)
    lines += _index_energy(entries) + _index_multiplications(entries)
    chains = [e for e in entries if e.get("accuracy")]
    if chains:
        lines += ["", "## Accuracy at each stage", ""]
        for e in chains:
            lines += [f"**{e['name']}**", ""]
            lines += _table(["stage", "accuracy", "on"], [[k, f"{100 * v['acc']:.2f} %", v.get("on", "")]
                                                         for k, v in e["accuracy"].items()], "lrl")
            lines.append("")
    if stages:
        lines += ["## Stages", ""]
        lines += _table(["stage", "status", "wall s", "CPU s"],
                        [[s["stage"], s["status"], f"{s['seconds']:.1f}", f"{s.get('cpu_seconds', 0.0):.1f}"]
                         for s in stages], "llrr")
        lines.append("")
        lines.append(f"Total: {sum(s['seconds'] for s in stages):.1f} s wall, "
                     f"{sum(s.get('cpu_seconds', 0.0) for s in stages):.1f} s CPU (CPU: this process and its "
                     "finished child processes).")
        lines.append("")
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    path = out / "README.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return path


__all__ = ["FILES", "fmt_energy", "fmt_num", "fmt_rel", "plot_energy", "plot_raster", "plot_rates",
           "plot_synops", "render_markdown", "write_index", "write_report"]
