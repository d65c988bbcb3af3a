"""Device energy models against measured hardware: Blouw et al. 2019's keyword spotter.

Blouw, Choo, Hunsberger, Eliasmith, "Benchmarking keyword spotting efficiency on
neuromorphic hardware" (arXiv 1812.01739, 2019), Table 1, measured one network on five
devices: dynamic power (running - idle) and inferences per second, hence dynamic joules
per inference. The network (nengo-loihi's keyword-spotting example, the same model):
390 inputs (MFCC frames) -> 256 LIF -> 256 LIF -> 29 characters. The conventional devices run
it as an ANN, one forward pass per inference; Loihi runs it spiking at dt = 1 ms, each input
frame presented for 10 steps (one inference), the first layer off chip (nengo-loihi's
``on_chip = False``), so the chip holds layer 2 (fan-in 256) and sends its spikes to the host.
Firing rates are not published: ``--rate`` (Hz, default 30; the result barely depends on it,
the per-step overhead dominates).

The workload is built by hand (``spikedeploy.metrics.devices.Workload``) and each device
profile in hardware/ (kws2019_gpu, kws2019_cpu, jetson_tx1, movidius_ncs, loihi1) predicts
its dynamic joules per inference (low / expected / high) and inferences per second.
``--fit`` refits the shared parameters the profiles mark "fitted" and prints them
(the utilisation of GPU-class devices and the x86 call time together: least squares in
log joules per inference and log inferences per second over the four conventional
devices; Loihi's host step and overhead power: its rate and dynamic power inverted).
The ratios are therefore a fit of 2 numbers to the
8 conventional measurements (and 2 to Loihi's 2), not an independent validation.

The last line: ``blouw2019: loihi <r>x, gpu <r>x, cpu <r>x, jetson <r>x of measured``
(predicted / measured, expected values).

Run: .venv/bin/python benchmarks/energy_validation.py [--rate 30] [--fit] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path

from spikedeploy.hardware import load_chip
from spikedeploy.metrics.devices import (BYTES_FP32, Workload, conventional, neuromorphic, operation_joules)

#: Blouw et al. 2019, Table 1: idle W, running W, dynamic W, inferences/s, dynamic J/inference.
MEASURED = {
    "gpu": (14.97, 37.83, 22.86, 770.39, 0.0298),
    "cpu": (17.01, 28.48, 11.47, 1813.63, 0.0063),
    "jetson": (2.64, 4.98, 2.34, 419.0, 0.0056),
    "movidius": (0.210, 0.647, 0.437, 300.0, 0.0015),
    "loihi": (0.029, 0.110, 0.081, 296.0, 0.00027),
}
PROFILES = {"gpu": "kws2019_gpu", "cpu": "kws2019_cpu", "jetson": "jetson_tx1", "movidius": "movidius_ncs",
            "loihi": "loihi1"}
SIZES = (390, 256, 256, 29)
STEPS_PER_INFERENCE = 10
DT = 1e-3


def ann_workload() -> Workload:
    macs = sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:]))
    state = sum(a + b for a, b in zip(SIZES[:-1], SIZES[1:]))
    return Workload(steps=1, macs=macs, synops=macs, neuron_updates=sum(SIZES[1:]), active_updates=sum(SIZES[1:]),
                    spikes=0.0, layers=len(SIZES) - 1, weight_bytes=(macs + sum(SIZES[1:])) * BYTES_FP32,
                    state_bytes=state * BYTES_FP32)


def loihi_workload(rate_hz: float) -> Workload:
    p = rate_hz * DT                            # spikes per neuron per step
    incoming = SIZES[1] * p                     # layer-1 spikes (from the host) per step
    return Workload(steps=STEPS_PER_INFERENCE, macs=SIZES[1] * SIZES[2], synops=incoming * SIZES[2],
                    neuron_updates=SIZES[2], active_updates=SIZES[2], spikes=SIZES[2] * p, layers=1,
                    weight_bytes=0.0, state_bytes=0.0)


def predict(profiles: dict, rate_hz: float) -> dict:
    out = {}
    ann = ann_workload()
    for dev, prof in profiles.items():
        if dev == "loihi":
            work = loihi_workload(rate_hz)
            d = neuromorphic(prof, work, operation_joules(prof, work), cores=1)
        else:
            d = conventional(prof, ann)
        out[dev] = d
    return out


def _with(profile, section: str, key: str, value: float):
    """The profile with one entry's value replaced (its range kept around it)."""
    q = profile.sections[section][key]
    lo, hi = q.span[0], q.span[2]
    new = replace(q, value=value, low=min(lo, value), high=max(hi, value))
    sections = {**profile.sections, section: {**profile.sections[section], key: new}}
    return replace(profile, sections=sections)


#: How each device's call time follows the x86 one (the profiles' sources say the same).
CALL_FACTOR = {"gpu": 1.0, "cpu": 1.0, "jetson": 3.0, "movidius": 1.0}


def fit(rate_hz: float) -> dict:
    """The shared 'fitted' parameters (module docstring): the GPU-class utilisation and the x86
    call time together, by grid search minimising the squared log errors of the four
    conventional devices' joules per inference and inferences per second; Loihi's two by
    inverting its measured rate and dynamic power."""
    base = {d: load_chip(p) for d, p in PROFILES.items() if d != "loihi"}
    ann = ann_workload()

    def error(u: float, call_us: float) -> float:
        err = 0.0
        for d, prof in base.items():
            prof = _with(prof, "streaming", "call_us", call_us * CALL_FACTOR[d])
            if prof.device != "cpu":
                prof = _with(prof, "power", "utilisation", u)
            pred = conventional(prof, ann)
            err += (math.log(pred.joules.expected / MEASURED[d][4])) ** 2
            err += (math.log(1 / pred.seconds.expected / MEASURED[d][3])) ** 2
        return err
    grid = [(0.02 * i, c) for i in range(3, 51) for c in range(100, 2001, 20)]
    u, call = min(grid, key=lambda g: error(*g))
    work = loihi_workload(rate_hz)
    ops_w = operation_joules(load_chip("loihi1"), work) * MEASURED["loihi"][3]
    step_us = 1e6 / (MEASURED["loihi"][3] * STEPS_PER_INFERENCE)
    return {"utilisation": round(u, 2), "call_us_x86": call, "log_error": round(error(u, call), 3),
            "loihi_host_step_us": round(step_us, 1), "loihi_overhead_w": round(MEASURED["loihi"][2] - ops_w, 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=30.0, help="mean firing rate on Loihi, Hz (not published)")
    ap.add_argument("--fit", action="store_true", help="refit the parameters marked 'fitted' and print them")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.fit:
        print("fitted:", fit(args.rate))
    pred = predict({d: load_chip(p) for d, p in PROFILES.items()}, args.rate)
    rows, result = [], {}
    print(f"{'device':9} {'profile':13} {'predicted J/inf (low .. high)':34} {'measured':>9} {'ratio':>6} "
          f"{'inf/s pred':>10} {'meas':>7}")
    for dev, d in pred.items():
        meas_j, meas_rate = MEASURED[dev][4], MEASURED[dev][3]
        r = d.joules.expected / meas_j
        rate = 1 / d.seconds.expected
        print(f"{dev:9} {PROFILES[dev]:13} {d.joules.expected:9.3g} ({d.joules.low:.2g} .. {d.joules.high:.2g})"
              f"{'':8} {meas_j:9.3g} {r:6.2f} {rate:10.0f} {meas_rate:7.0f}")
        result[dev] = {"profile": PROFILES[dev], "predicted": d.to_dict(), "measured_j": meas_j,
                       "measured_inferences_per_s": meas_rate, "ratio": r, "rate_ratio": rate / meas_rate,
                       "in_range": d.joules.low <= meas_j <= d.joules.high}
        rows.append(r)
    order_pred = sorted(pred, key=lambda k: pred[k].joules.expected)
    order_meas = sorted(MEASURED, key=lambda k: MEASURED[k][4])
    print("order (least energy first): predicted", " < ".join(order_pred), "| measured", " < ".join(order_meas))
    result["order_preserved"] = order_pred == order_meas
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    ratios = {d: result[d]["ratio"] for d in ("loihi", "gpu", "cpu", "jetson")}
    print(f"blouw2019: loihi {ratios['loihi']:.2f}x, gpu {ratios['gpu']:.2f}x, cpu {ratios['cpu']:.2f}x, "
          f"jetson {ratios['jetson']:.2f}x of measured")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
