"""Measured GPU energy per inference from NVML's board energy counter.

``nvmlDeviceGetTotalEnergyConsumption`` returns the energy the board has used
since the driver was loaded, in millijoules (Volta and newer). Reading it before
and after ``n`` inferences gives ``(end - start) / n`` millijoules per inference:
a measurement of the whole board (static power, memory, any other process on the
same GPU included), next to the operation-count estimate of
:mod:`spikedeploy.metrics.energy`. The counter advances in steps (tens of
milliseconds on current boards), so run enough inferences to last well over a
second; with ``idle_s`` the board's idle power is measured first over that many
seconds and the idle energy over the run's duration is also reported.

NVIDIA's official bindings (package ``nvidia-ml-py``, import name ``pynvml``)
are imported lazily. Without an NVIDIA GPU (or without the driver's library)
:func:`measure_gpu_energy` returns None and :func:`gpu_energy_status` says why.
Tests inject a fake module through the ``nvml`` argument.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import ConfigError

NOT_AVAILABLE = "not available: no NVIDIA GPU"


@dataclass(frozen=True)
class GpuEnergyMeasurement:
    """Energy counter readings around ``n_inferences`` inferences (millijoules, seconds)."""

    device_name: str
    device_index: int
    n_inferences: int
    start_mj: int
    end_mj: int
    elapsed_s: float
    idle_power_w: float | None = None  # measured before the run when idle_s > 0

    @property
    def energy_j(self) -> float:
        """Board energy over the whole run, joules."""
        return (self.end_mj - self.start_mj) / 1000.0

    @property
    def joules_per_inference(self) -> float:
        return self.energy_j / self.n_inferences

    @property
    def mean_power_w(self) -> float | None:
        return self.energy_j / self.elapsed_s if self.elapsed_s > 0 else None

    @property
    def above_idle_joules_per_inference(self) -> float | None:
        """(energy - idle power x duration) / inferences, when the idle power was measured."""
        if self.idle_power_w is None:
            return None
        return (self.energy_j - self.idle_power_w * self.elapsed_s) / self.n_inferences

    def assumptions(self) -> tuple[str, ...]:
        lines = [f"measured: NVML board energy counter of GPU {self.device_index} "
                 f"({self.device_name}), {self.n_inferences} inferences in {self.elapsed_s:.3f} s",
                 "the counter covers the whole board (static power, memory, other processes)"]
        if self.idle_power_w is not None:
            lines.append(f"idle power measured before the run: {self.idle_power_w:.2f} W")
        return tuple(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"device_name": self.device_name, "device_index": self.device_index,
                "n_inferences": self.n_inferences, "energy_j": self.energy_j,
                "joules_per_inference": self.joules_per_inference,
                "mean_power_w": self.mean_power_w, "elapsed_s": self.elapsed_s,
                "idle_power_w": self.idle_power_w,
                "above_idle_joules_per_inference": self.above_idle_joules_per_inference}


def _import_nvml() -> Any | None:
    try:
        import pynvml  # noqa: PLC0415  (lazy: optional at run time)
    except ImportError:
        return None
    return pynvml


def _open(nvml: Any | None, device_index: int) -> tuple[Any, Any, str]:
    """(module, handle, "") when the counter can be read; (None, None, reason) otherwise."""
    if nvml is None:
        nvml = _import_nvml()
        if nvml is None:
            return None, None, (f"{NOT_AVAILABLE} (the nvidia-ml-py package is not installed: "
                                "pip install nvidia-ml-py)")
    try:
        nvml.nvmlInit()
    except Exception as exc:  # pynvml raises NVMLError subclasses (library/driver not found)
        return None, None, f"{NOT_AVAILABLE} ({exc})"
    try:
        count = int(nvml.nvmlDeviceGetCount())
        if count == 0:
            raise LookupError("NVML sees no devices")
        if not 0 <= device_index < count:
            raise LookupError(f"GPU index {device_index} out of range (0..{count - 1})")
        handle = nvml.nvmlDeviceGetHandleByIndex(device_index)
        nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    except Exception as exc:  # not supported (pre-Volta), no device, bad index
        nvml.nvmlShutdown()
        return None, None, f"not available: the GPU energy counter cannot be read ({exc})"
    return nvml, handle, ""


def gpu_energy_status(device_index: int = 0, *, nvml: Any | None = None) -> str | None:
    """None when the energy counter can be read; otherwise a line saying why not."""
    mod, _, reason = _open(nvml, device_index)
    if mod is None:
        return reason
    mod.nvmlShutdown()
    return None


def _name(nvml: Any, handle: Any) -> str:
    name = nvml.nvmlDeviceGetName(handle)
    return name.decode() if isinstance(name, bytes) else str(name)


def _default_synchronize() -> None:
    import torch  # noqa: PLC0415

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def measure_gpu_energy(run: Callable[[], Any], n_inferences: int, *, device_index: int = 0,
                       idle_s: float = 0.0, nvml: Any | None = None,
                       synchronize: Callable[[], None] | None = _default_synchronize,
                       clock: Callable[[], float] = time.perf_counter,
                       sleep: Callable[[float], None] = time.sleep) -> GpuEnergyMeasurement | None:
    """Call ``run()`` once (it performs ``n_inferences`` inferences) between two counter reads.

    Returns None when there is no NVIDIA GPU or the counter cannot be read (see
    :func:`gpu_energy_status`). ``synchronize`` runs after ``run()`` and before the
    second read (default: ``torch.cuda.synchronize`` when CUDA is available), so the
    queued GPU work is inside the measurement.
    """
    if int(n_inferences) <= 0:
        raise ConfigError("n_inferences", f"must be positive, got {n_inferences}")
    mod, handle, _reason = _open(nvml, device_index)
    if mod is None:
        return None
    try:
        idle_power = None
        if idle_s > 0:
            e0, t0 = int(mod.nvmlDeviceGetTotalEnergyConsumption(handle)), clock()
            sleep(idle_s)
            e1, t1 = int(mod.nvmlDeviceGetTotalEnergyConsumption(handle)), clock()
            idle_power = (e1 - e0) / 1000.0 / (t1 - t0) if t1 > t0 else None
        if synchronize is not None:
            synchronize()
        start_mj, t_start = int(mod.nvmlDeviceGetTotalEnergyConsumption(handle)), clock()
        run()
        if synchronize is not None:
            synchronize()
        end_mj, t_end = int(mod.nvmlDeviceGetTotalEnergyConsumption(handle)), clock()
        return GpuEnergyMeasurement(device_name=_name(mod, handle), device_index=device_index,
                                    n_inferences=int(n_inferences), start_mj=start_mj,
                                    end_mj=end_mj, elapsed_s=t_end - t_start,
                                    idle_power_w=idle_power)
    finally:
        mod.nvmlShutdown()
