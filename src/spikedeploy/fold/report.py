"""A fold report in words (what ``spikedeploy fold`` prints) and as a plot of the decays."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..atomic import atomic_path

def _gpn_layer_lines(rep: Mapping[str, Any]) -> list[str]:
    g = rep["gates"]
    lines = [f"{rep['name']} ({rep['size']} neurons, GPN firing rate {rep['firing_rate']:.4f}):"]
    for name in ("forget", "input", "bypass", "threshold"):
        s, fo = g[name], rep["folded"][name]
        lines.append(f"  {name:9s} gate mean {s['mean']:+.4f} (per-neuron spread {s['neuron_mean_std']:.4f}, "
                     f"within-neuron std {s['within_neuron_std']:.4f}) -> folded {fo['min']:+.4f}..{fo['max']:+.4f}")
    if "lsq_fit" in rep:
        fit = rep["lsq_fit"]
        lines.append(f"  least-squares update fit: mean R^2 {fit['mean_r2']:.4f} (min {fit['min_r2']:.4f}), "
                     f"forget clipped {fit['forget_clipped']}, input clipped {fit['input_clipped']}")
    return lines


def _spike_voltage_lines(rep: Mapping[str, Any]) -> list[str]:
    """What the calibration measured of the voltage at spike (folds with an expected-remainder reset)."""
    sv = rep.get("spike_voltage")
    if not sv:
        return []
    std = "n/a" if sv["mean_std"] is None else f"{sv['mean_std']:.4f}"
    return [f"  voltage at spike measured for {sv['calibrated_neurons']} neurons, mean within-neuron "
            f"std {std} (what the expected-remainder reset loses)"]


def _s2net_layer_lines(rep: Mapping[str, Any]) -> list[str]:
    lines = [f"{rep['name']} ({rep['size']} s2net neurons, beta {rep['beta']:.4f}, lateral {rep['lateral']}):",
             f"  self-reset: {rep['self_reset']}; recurrent diagonal {rep['self_weight']['min']:+.4f}.."
             f"{rep['self_weight']['max']:+.4f}; thresholds {rep['vth']['min']:.4f}..{rep['vth']['max']:.4f}"]
    lines += _spike_voltage_lines(rep)
    if rep["dv_clamped"] or rep["vth_clamped"]:
        lines.append(f"  clamped: dv for {rep['dv_clamped']} neurons, vth for {rep['vth_clamped']} neurons")
    return lines


def _pr_layer_lines(rep: Mapping[str, Any]) -> list[str]:
    f, a, o = rep["forget"], rep["amplitude"], rep["outputs"]
    multi = "n/a" if o["multi_level_fraction"] is None else f"{o['multi_level_fraction']:.4f}"
    return [f"{rep['name']} ({rep['size']} pr-v2 neurons, threshold {rep['vth']:.4f}):",
            f"  forget gate mean {f['mean']:.4f} (per-neuron spread {f['neuron_mean_std']:.4f}, within-neuron "
            f"std {f['within_neuron_std']:.4f}) -> du = 1 - f",
            f"  outputs: positive {o['positive_rate']:.4f}, negative {o['negative_rate']:.4f} (dropped) per step; "
            f"{multi} of positive outputs above one level (one spike each)",
            f"  spike amplitude {a['min']:.4f}..{a['max']:.4f} ({a['never_positive']} neurons never positive)",
            f"  candidate pre-activations negative {rep['candidate_negative_fraction']:.4f}: ReLU -> its line, "
            f"slopes {rep['relu_fit']['slope_min']:.4f}..{rep['relu_fit']['slope_max']:.4f}, mean R^2 "
            f"{rep['relu_fit']['mean_r2']:.4f}"]


def _lif_layer_lines(rep: Mapping[str, Any]) -> list[str]:
    lines = [f"{rep['name']} ({rep['size']} {rep['kind']} neurons): synapse bias moved to the voltage bias for "
             f"{rep['bias_moved']} neurons with du < 1 (steady state) and {rep['bias_exact']} with du = 1 (exact); "
             f"recurrent diagonal added {rep['self_weight']['min']:+.4f}..{rep['self_weight']['max']:+.4f}"]
    lines += _spike_voltage_lines(rep)
    return lines


_LAYER_LINES = {"gpn": _gpn_layer_lines, "s2net": _s2net_layer_lines, "pr-v2": _pr_layer_lines,
                "lif": _lif_layer_lines, "cuba-lif": _lif_layer_lines}


def format_report(report: Mapping[str, Any]) -> str:
    """A few readable lines of a fold report (the CLI prints them)."""
    kind = report.get("kind", "gpn")
    lines = list(report.get("notes", []))
    for rep in report["layers"]:
        lines += _LAYER_LINES[kind](rep)
        d = rep["decay"]
        prof = ", ".join(f"{p:.4f} x{n}" for p, n in zip(d["profiles"], d["sizes"]))
        e = d["error"]
        lines.append(f"  decays {d.get('param', 'dv')}: {len(d['profiles'])} profiles [{prof}]")
        lines.append(f"  decay error: max {e['max_abs']:.5f}, rms {e['rms']:.5f}, "
                     f"largest time-constant change {100 * e['max_tau_rel']:.2f} %")
    acc = report.get("accuracy", {})
    for stage in (kind, "folded", "finetuned"):
        if stage in acc:
            a = acc[stage]
            lines.append(f"{stage:10s} accuracy: val {a['val']['acc']:.4f}  test {a['test']['acc']:.4f}  "
                         f"(test firing rates {[round(r, 4) for r in a['test']['rates']]})")
    return "\n".join(lines)


def format_graded_report(report: Mapping[str, Any]) -> str:
    """A few readable lines of a Loihi 2 fold report (graded outputs, gates computed)."""
    lines = list(report.get("notes", []))
    for rep in report["layers"]:
        e = rep["exponents"]
        if report.get("kind") == "gpn":
            lines.append(f"{rep['name']} ({rep['size']} GPN neurons, {rep['gates']} gates trained): binary spikes out, "
                         f"graded {rep['v_bits']}-bit broadcast of v (1.0 = 2^{rep['v_exp']}, {rep['v_shift']} low "
                         f"bits dropped), {rep['gate_frac']}-bit gates; weight exponents {e}")
        else:
            lines.append(f"{rep['name']} ({rep['size']} pr-v2 neurons): graded {rep['payload_bits']}-bit outputs, one "
                         f"level = 2^{rep['level_exp']} V units; weight exponents forget {e['wf_exp']}/{e['uf_exp']}, "
                         f"candidate {e['wc_exp']}/{e['uc_exp']}")
    r = report["readout"]
    lines.append(f"readout ({r['mode']}): weight_exp {r['weight_exp']}, {r['decay_groups']} decay group(s)")
    for stage, what in ((report.get("kind", "pr-v2"), "source"), ("hard_gates", "float, hard gates"),
                        ("loihi2", "Loihi 2 integers (emulator)")):
        a = report.get("accuracy", {}).get(stage)
        if a is not None:
            lines.append(f"{what:28s} accuracy: val {a['val']['acc']:.4f}  test {a['test']['acc']:.4f}")
    over = sum(sum((report.get("accuracy", {}).get("loihi2", {}).get(split, {}).get("overflow") or {}).values())
               for split in ("val", "test"))
    if over:
        lines.append(f"warning: {over} pre-activation(s) outside the chip's activation bits on the validation and test "
                     "data (Lava's simulation keeps them, the chip would not)")
    return "\n".join(lines)


def plot_decays(report: Mapping[str, Any], path: str | Path) -> Path:
    """A PNG of each layer's folded decays: the per-neuron ``dv`` before clustering (histogram)
    and the K profiles they were clustered onto (vertical lines, labelled with their sizes).
    Written atomically; returns the path."""
    import matplotlib  # lazy: matplotlib costs ~0.5 s to import and only plots need it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = report["layers"]
    fig, axes = plt.subplots(len(layers), 1, figsize=(7, 2.6 * len(layers)), squeeze=False)
    for ax, rep in zip(axes[:, 0], layers):
        d = rep["decay"]
        param = d.get("param", "dv")
        dv = np.asarray(rep["per_neuron"][f"{param}_unclustered"], dtype=np.float64)
        ax.hist(dv, bins=min(60, max(10, dv.size // 4)), color="0.6", label=f"per-neuron {param} (folded)")
        for c, n in zip(d["profiles"], d["sizes"]):
            ax.axvline(c, color="C3", lw=1.2)
            ax.text(c, ax.get_ylim()[1] * 0.92, f" {n}", color="C3", fontsize=8, va="top")
        e = d["error"]
        ax.set_title(f"{rep['name']}: {len(d['profiles'])} decay profiles (red), max |{param} error| "
                     f"{e['max_abs']:.4f}, rms {e['rms']:.4f}", fontsize=9)
        ax.set_xlabel(f"{param} = 1 - forget gate" if rep.get("kind", "gpn") != "s2net" else "dv = 1 - beta")
        ax.set_ylabel("neurons")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(path)
