"""The comparison's energy targets: an NVML reading becomes a measured target, above idle when the
idle reading allows it, the whole board otherwise (never a negative energy)."""

from __future__ import annotations

from spikedeploy.metrics.nvml import GpuEnergyMeasurement
from spikedeploy.metrics.targets import _measured


def _reading(idle_w):
    return GpuEnergyMeasurement(device_name="Fake", device_index=0, n_inferences=10, start_mj=0, end_mj=2000,
                                elapsed_s=1.0, idle_power_w=idle_w)


def test_a_reading_above_idle_is_the_dynamic_energy():
    t = _measured(_reading(1.5))                        # 2 J in 1 s, 1.5 W idle: 0.5 J above idle
    assert (t.basis, t.joules.expected, t.total_joules.expected) == ("measured", 0.05, 0.2)
    assert "above the idle power" in t.assumptions[0]


def test_a_negative_reading_above_idle_falls_back_to_the_whole_board():
    t = _measured(_reading(3.0))                        # idle 3 W > the run's 2 W: noise
    assert t.joules.expected == 0.2 and "was negative" in t.assumptions[0]
    assert _measured(_reading(None)).joules.expected == 0.2
