"""GPU energy through NVML: the no-GPU path of this machine, and the arithmetic with a fake NVML."""

import pytest

from spikedeploy.errors import ConfigError
from spikedeploy.metrics import gpu_energy_status, measure_gpu_energy
from spikedeploy.metrics.nvml import NOT_AVAILABLE


class FakeNvml:
    """Stands in for pynvml: an energy counter in millijoules that run() advances."""

    def __init__(self, start_mj=1_000_000, supported=True, init_error=None):
        self.counter = start_mj
        self.supported = supported
        self.init_error = init_error
        self.calls = []

    def nvmlInit(self):
        self.calls.append("init")
        if self.init_error is not None:
            raise self.init_error

    def nvmlShutdown(self):
        self.calls.append("shutdown")

    def nvmlDeviceGetCount(self):
        return 1

    def nvmlDeviceGetHandleByIndex(self, index):
        return ("handle", index)

    def nvmlDeviceGetName(self, handle):
        return b"Fake H100"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if not self.supported:
            raise RuntimeError("Not Supported")
        self.calls.append("read")
        return self.counter


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_measurement_arithmetic():
    nvml, clock = FakeNvml(), FakeClock()

    def run():                      # 50 inferences that use 12 345 mJ over 2.5 s
        nvml.counter += 12_345
        clock.t += 2.5

    m = measure_gpu_energy(run, 50, nvml=nvml, synchronize=None, clock=clock)
    assert (m.start_mj, m.end_mj, m.n_inferences) == (1_000_000, 1_012_345, 50)
    assert m.energy_j == 12.345
    assert m.joules_per_inference == 12.345 / 50
    assert m.mean_power_w == 12.345 / 2.5
    assert m.device_name == "Fake H100" and m.above_idle_joules_per_inference is None
    assert nvml.calls[-1] == "shutdown"


def test_measurement_with_idle_baseline():
    nvml, clock = FakeNvml(), FakeClock()

    def sleep(s):                   # idle board: 60 W
        nvml.counter += int(60_000 * s)
        clock.t += s

    def run():                      # 10 inferences, 1 s, 260 J -> 200 J above idle
        nvml.counter += 260_000
        clock.t += 1.0

    m = measure_gpu_energy(run, 10, nvml=nvml, idle_s=0.5, synchronize=None, clock=clock,
                           sleep=sleep)
    assert m.idle_power_w == 60.0
    assert m.joules_per_inference == 26.0
    assert m.above_idle_joules_per_inference == pytest.approx(20.0)
    assert "idle power" in m.assumptions()[-1]


def test_synchronize_runs_before_the_second_read():
    nvml, order = FakeNvml(), []
    measure_gpu_energy(lambda: order.append("run"), 1, nvml=nvml,
                       synchronize=lambda: order.append(("sync", nvml.calls.count("read"))))
    # reads: 1 = the support check, 2 = start, 3 = end. One sync before the start read,
    # one after run() and before the end read.
    assert order == [("sync", 1), "run", ("sync", 2)]
    assert nvml.calls.count("read") == 3


def test_no_gpu_on_this_machine_is_reported_not_raised():
    # The real pynvml: this machine has no NVIDIA driver.
    assert measure_gpu_energy(lambda: None, 1, synchronize=None) is None
    assert gpu_energy_status().startswith(NOT_AVAILABLE)


def test_unavailable_paths_with_a_fake():
    broken = FakeNvml(init_error=RuntimeError("NVML Shared Library Not Found"))
    assert measure_gpu_energy(lambda: None, 1, nvml=broken) is None
    assert gpu_energy_status(nvml=broken) == f"{NOT_AVAILABLE} (NVML Shared Library Not Found)"
    old = FakeNvml(supported=False)
    assert "cannot be read" in gpu_energy_status(nvml=old)
    assert old.calls[-1] == "shutdown"
    assert gpu_energy_status(nvml=FakeNvml()) is None


def test_bad_count():
    with pytest.raises(ConfigError):
        measure_gpu_energy(lambda: None, 0, nvml=FakeNvml())
