"""Device energy models pinned to hand-computed values (profiles written here with round numbers),
the per-operation helper against Davies et al.'s table, and the shipped profiles against Blouw et
al. 2019's measurements (benchmarks/energy_validation.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from spikedeploy.errors import ConfigError
from spikedeploy.hardware import load_chip, load_chip_file
from spikedeploy.metrics.devices import Span, Workload, conventional, neuromorphic, operation_joules, ratio

WORK = Workload(steps=2, macs=1000, synops=100, neuron_updates=30, active_updates=10, spikes=5, layers=1,
                weight_bytes=4000, state_bytes=100)


def _profile(tmp_path: Path, device: str, power: dict, streaming: dict | None = None) -> object:
    """A profile file with these entries: name -> value, or (low, value, high)."""
    def entry(v):
        lo, val, hi = v if isinstance(v, tuple) else (None, v, None)
        rng = "" if lo is None else f"low = {lo}, high = {hi}, "
        return f'{{ value = {val}, {rng}status = "estimate", source = "test" }}'
    text = f'[chip]\nname = "dev"\nkind = "conventional"\ndevice = "{device}"\ndescription = "test"\n'
    for section, table in (("power", power), ("streaming", streaming or STREAM)):
        text += f"[{section}]\n" + "".join(f"{k} = {entry(v)}\n" for k, v in table.items())
    path = tmp_path / "dev.toml"
    path.write_text(text)
    return load_chip_file(path)


STREAM = {"call_us": 100, "kernel_us": (5, 10, 20), "bandwidth_gbs": 1, "gflops": 1}


def test_a_gpu_streamed_at_batch_1_by_hand(tmp_path):
    prof = _profile(tmp_path, "gpu", {"idle_w": 10, "max_w": 110, "utilisation": (0.25, 0.5, 1)})
    d = conventional(prof, WORK)
    # time = call + steps x (4 kernels x 10 us + (4000 + 100) B / 1 GB/s + 2 x 1000 / 1 GFLOP/s)
    t = 100e-6 + 2 * (4 * 10e-6 + 4100e-9 + 2000e-9)
    assert d.seconds.expected == pytest.approx(t, rel=1e-12) and t == pytest.approx(192.2e-6)
    assert d.joules.expected == pytest.approx(0.5 * 100 * t, rel=1e-12)
    assert d.total_joules.expected == pytest.approx((10 + 50) * t, rel=1e-12)
    t_low, t_high = 100e-6 + 2 * (20e-6 + 6.1e-6), 100e-6 + 2 * (80e-6 + 6.1e-6)
    assert d.joules.low == pytest.approx(0.25 * 100 * t_low) and d.joules.high == pytest.approx(1.0 * 100 * t_high)
    assert (d.kind, d.basis) == ("gpu", "modelled")


def test_a_gpu_batched_shares_the_call_and_the_weights(tmp_path):
    prof = _profile(tmp_path, "gpu", {"idle_w": 10, "max_w": 110, "utilisation": 0.5})
    d = conventional(prof, WORK, batch=10)
    t = 100e-6 + 2 * (4 * 10e-6 + (4000 + 10 * 100) * 1e-9 + 10 * 2000e-9)    # = 230 us for 10 samples
    assert d.joules.expected == pytest.approx(1.0 * 100 * t / 10) and t == pytest.approx(230e-6)
    assert d.target == "dev@10"


def test_a_cpu_draws_the_power_of_its_busy_cores(tmp_path):
    prof = _profile(tmp_path, "cpu", {"idle_w": 10, "max_w": 110, "cores": 4, "active_cores": 1})
    d = conventional(prof, WORK)
    assert d.joules.expected == pytest.approx(1 * (110 - 10) / 4 * d.seconds.expected)
    assert conventional(prof, WORK, batch=10).joules.expected == pytest.approx(
        100 * (100e-6 + 2 * (40e-6 + 5000e-9 + 20000e-9)) / 10)          # batched: every core busy


def test_the_operations_at_davies_et_al_s_table():
    # (100 synops x 23.6 + 10 active x 81 + 20 inactive x 52 + 5 spikes x 1.7) pJ x 2 steps
    assert operation_joules("loihi1", WORK) == pytest.approx(8437e-12)


def test_a_neuromorphic_chip_adds_per_step_overhead_and_static_power():
    d = neuromorphic("loihi1", WORK, 1e-6)
    step = 338e-6                               # hardware/loihi1.toml host_step_us; the chip's own work is shorter
    assert d.seconds.expected == pytest.approx(2 * step)
    assert d.joules.expected == pytest.approx(1e-6 + 0.0808 * step * 2)
    assert d.total_joules.expected == pytest.approx(d.joules.expected + 0.029 * step * 2)
    assert d.joules.low == pytest.approx(1e-6 + 0.027 * 100e-6 * 2)        # host_step 100 us, overhead 0.027 W
    busy = Workload(**{**WORK.__dict__, "synops": 1e6})                   # 1e6 x 3.5 ns = 3.5 ms per step
    chip = neuromorphic("loihi1", busy, 0.0, cores=1)
    assert chip.seconds.expected == pytest.approx(2 * (1e6 * 3.5 + 10 * 8.4 + 20 * 5.3 + 465) * 1e-9)
    assert neuromorphic("loihi1", busy, 0.0, cores=10).seconds.expected < chip.seconds.expected


def test_a_range_must_hold_its_value_and_a_per_operation_profile_is_not_a_device(tmp_path):
    with pytest.raises(ConfigError, match="must contain the value"):
        _profile(tmp_path, "gpu", {"idle_w": (20, 10, 30), "max_w": 110, "utilisation": 0.5})
    with pytest.raises(ConfigError, match="not a device model"):
        conventional(load_chip("gpu"), WORK)
    assert ratio(Span(2, 4, 8), Span(1, 2, 4)) == Span(0.5, 2, 8)


def test_the_shipped_profiles_reproduce_blouw_et_al_2019_within_2x():
    """The validation benchmark's numbers, as a regression: each device's predicted dynamic joules
    per inference within 2x of the measured, and the measured value inside the predicted range."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "energy_validation.py"
    spec = importlib.util.spec_from_file_location("energy_validation", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    pred = bench.predict({d: load_chip(p) for d, p in bench.PROFILES.items()}, 30.0)
    for dev, d in pred.items():
        measured = bench.MEASURED[dev][4]
        assert 0.5 <= d.joules.expected / measured <= 2.0, dev
        assert d.joules.low <= measured <= d.joules.high, dev
    assert min(pred, key=lambda k: pred[k].joules.expected) == "loihi"
    assert max(pred, key=lambda k: pred[k].joules.expected) == "gpu"
