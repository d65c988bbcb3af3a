"""Device energy models: joules per inference on a named device, with a range and a basis.

The per-operation estimate (:mod:`.energy`) counts arithmetic and events only; it is a
lower bound of a device's energy, not a device. The models here add what a device
spends around the arithmetic, from the numbers in ``hardware/<device>.toml``
(each with its source and status; ``low`` / ``high`` give the range):

**Neuromorphic** (``[chip] device = "neuromorphic"``: Loihi 1, Loihi 2)::

    ops      = the per-operation energy (Davies et al. 2018 Table 2) of the counted run
    step     = max(host_step_us, on-chip work per step from [timing] + barrier)
    dynamic  = ops + overhead_w x step x steps            (embedded x86 cores, host I/O)
    total    = dynamic + static_w x step x steps

**GPU / accelerator, streaming at batch 1** (``device = "gpu"`` or ``"accelerator"``)::

    time     = call_us + usb_us + steps x (kernels x kernel_us + bytes / bandwidth + flops / gflops)
    dynamic  = utilisation x (max_w - idle_w) x time
    total    = idle_w x time + dynamic

**CPU, streaming at batch 1** (``device = "cpu"``): the same time; the power is that of
the cores the run keeps busy, ``active_cores x (max_w - idle_w) / cores``.

**Batched throughput** (GPU and CPU): ``batch`` inferences share one call; the weights are
read once per step, the state and arithmetic scale with the batch; the device is taken as
fully loaded (``utilisation`` 1) and the joules are divided by the batch.

Each result is a :class:`DeviceEnergy`: ``kind`` (neuromorphic / gpu / cpu / accelerator),
``basis`` ("modelled"; "measured" for a counter reading; "lower bound" for the arithmetic
figure), the dynamic joules per inference as low / expected / high (every parameter at
its low, value, high: the corners of a monotone model), the seconds per inference, and
the assumptions as text lines. What a workload asks of a device is a :class:`Workload`,
built from a counted run by :func:`workload_from_counts` or by hand (the validation
benchmark rebuilds published networks this way).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import ConfigError
from ..hardware import ChipProfile, load_chip
from .energy import estimate_energy
from .records import RunCounts

BYTES_FP32 = 4
#: Kernels (operator calls) a framework issues per layer and step: matmul, bias add,
#: neuron update (the elementwise ops of a LIF step, fused), threshold / reset.
KERNELS_PER_LAYER = 4


@dataclass(frozen=True)
class Span:
    """low <= expected <= high."""

    low: float
    expected: float
    high: float

    def __post_init__(self) -> None:
        if not (self.low <= self.expected <= self.high) or self.low < 0:
            raise ConfigError("span", f"need 0 <= low <= expected <= high, got {self.low}, {self.expected}, "
                                      f"{self.high}")

    def to_dict(self) -> dict[str, float]:
        return {"low": self.low, "expected": self.expected, "high": self.high}


@dataclass(frozen=True)
class Workload:
    """What one inference asks of a device. Per-step figures are means over the counted samples.

    steps           time steps per inference (1 for a feed-forward ANN pass)
    macs            dense multiply-accumulates per step (every weight used once)
    synops          effective synaptic events per step (accumulates an event-driven chip performs)
    neuron_updates  neuron updates per step; ``active_updates`` of them active
    spikes          spikes sent per step
    layers          layers computed per step (each a few framework kernels)
    weight_bytes    fp32 parameter bytes read per step on a conventional device
    state_bytes     fp32 state and activation bytes read and written per step, per sample
    """

    steps: int
    macs: float
    synops: float
    neuron_updates: float
    active_updates: float
    spikes: float
    layers: int
    weight_bytes: float
    state_bytes: float

    @property
    def kernels(self) -> int:
        return self.layers * KERNELS_PER_LAYER


@dataclass(frozen=True)
class DeviceEnergy:
    """Joules per inference of one device (dynamic: above idle), its range and basis."""

    target: str
    kind: str
    basis: str
    joules: Span                    # dynamic energy per inference
    total_joules: Span | None       # with idle / static power over the time taken (None: not modelled)
    seconds: Span | None            # wall time per inference (None: not modelled)
    assumptions: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "basis": self.basis, "joules_per_inference": self.joules.to_dict(),
                "total_joules_per_inference": None if self.total_joules is None else self.total_joules.to_dict(),
                "seconds_per_inference": None if self.seconds is None else self.seconds.to_dict(),
                "assumptions": list(self.assumptions)}


def workload_from_counts(counts: RunCounts) -> Workload:
    """The workload of a counted run (per step, the mean over its samples)."""
    steps = counts.inputs.sample_steps / counts.inputs.n_samples
    rows = counts.rows()
    weights = sum(r.n_in * r.n_neurons + (r.n_neurons ** 2 if r.recurrent else 0) for r in rows)
    state = sum(r.n_in + 3 * r.n_neurons for r in rows)           # input, current, voltage, output
    return Workload(
        steps=max(1, round(steps)), macs=sum(r.dense_ops for r in rows) / steps,
        synops=sum(r.effective_acs + r.effective_macs for r in rows) / steps,
        neuron_updates=sum(r.neuron_updates for r in rows) / steps,
        active_updates=sum(r.active_updates for r in rows) / steps,
        spikes=sum(r.spikes_per_sample or 0.0 for r in rows) / steps,
        layers=len(rows), weight_bytes=weights * BYTES_FP32, state_bytes=state * BYTES_FP32)


def operation_joules(profile: ChipProfile | str, work: Workload) -> float:
    """A neuromorphic chip's per-operation energy of a workload (Davies et al. 2018 Table 2 for
    Loihi 1): synaptic events, neuron updates (active / inactive) and spikes within a tile, per
    inference. For a counted run, :func:`.energy.estimate_energy` gives the same per layer."""
    profile = load_chip(profile) if isinstance(profile, str) else profile
    pj = profile.energy_pj
    per_step = (work.synops * pj("synaptic_op") + work.active_updates * pj("neuron_update_active")
                + (work.neuron_updates - work.active_updates) * pj("neuron_update_inactive")
                + work.spikes * pj("spike_within_tile"))
    return per_step * work.steps * 1e-12


def _corners(fn: Any, spans: Mapping[str, tuple[float, float, float]], low_is: Mapping[str, int]) -> Span:
    """fn(**params) at the low, value and high corners. ``low_is[name]`` says which end of the
    parameter's span gives the low result (0: its low, 2: its high); the model is monotone."""
    pick = lambda end: {k: v[end if low_is.get(k, 0) == 0 else 2 - end] for k, v in spans.items()}  # noqa: E731
    return Span(fn(**pick(0)), fn(**pick(1)), fn(**pick(2)))


def _spans(profile: ChipProfile, section: str, *keys: str) -> dict[str, tuple[float, float, float]]:
    return {k: profile.span(section, k) for k in keys}


def _sources(profile: ChipProfile, section: str, keys: Any) -> list[str]:
    out = []
    for k in keys:
        q = profile.quantity(section, k)
        rng = "" if q.low is None and q.high is None else f" [{q.span[0]:g} .. {q.span[2]:g}]"
        out.append(f"{k} = {q.value:g}{rng} {q.unit} ({q.status}): {q.source}")
    return out


def _chip_step_s(profile: ChipProfile, work: Workload, cores: int) -> float | None:
    """Seconds of on-chip work per step from [timing] (cores in parallel), or None if unpublished."""
    timing = profile.sections.get("timing", {})
    keys = ("synaptic_op", "neuron_update_active", "neuron_update_inactive", "barrier_sync_max")
    if any(k not in timing or timing[k].value is None for k in keys):
        return None
    ns = (work.synops * timing["synaptic_op"].value + work.active_updates * timing["neuron_update_active"].value
          + (work.neuron_updates - work.active_updates) * timing["neuron_update_inactive"].value) / max(1, cores)
    return (ns + timing["barrier_sync_max"].value) * 1e-9


def neuromorphic(profile: ChipProfile | str, work: Workload, ops_joules: float, *, cores: int = 1) -> DeviceEnergy:
    """A neuromorphic chip: its counted operations plus per-step overhead (module docstring).

    ``ops_joules``: the per-operation estimate of the same run (:func:`.energy.estimate_energy`),
    ``cores``: the cores the network occupies (``map``), over which the on-chip work spreads.
    """
    profile = load_chip(profile) if isinstance(profile, str) else profile
    spans = _spans(profile, "overhead", "host_step_us", "overhead_w", "static_w")
    chip_s = _chip_step_s(profile, work, cores)

    def step_s(host_step_us: float) -> float:
        return max(host_step_us * 1e-6, chip_s or 0.0)

    def dynamic(host_step_us: float, overhead_w: float, static_w: float) -> float:
        return ops_joules + overhead_w * step_s(host_step_us) * work.steps

    def total(host_step_us: float, overhead_w: float, static_w: float) -> float:
        return dynamic(host_step_us, overhead_w, static_w) + static_w * step_s(host_step_us) * work.steps

    lines = [f"{profile.name}: ops {ops_joules:.3g} J per inference (per-operation energies, the counted run) "
             f"+ overhead_w x step x {work.steps} steps; total adds static_w x step x steps"]
    lines.append("on-chip work per step: " + ("not modelled ([timing] unpublished): the step is the host's"
                                              if chip_s is None else f"{chip_s * 1e6:.3g} us over {cores} core(s) "
                                              "incl. the barrier; the step is the longer of it and host_step_us"))
    lines += _sources(profile, "overhead", spans)
    return DeviceEnergy(
        target=profile.name, kind="neuromorphic", basis="modelled",
        joules=_corners(dynamic, spans, {}), total_joules=_corners(total, spans, {}),
        seconds=_corners(lambda host_step_us, **_: step_s(host_step_us) * work.steps, spans, {}),
        assumptions=tuple(lines))


def _stream_seconds(work: Workload, batch: int, call_us: float, usb_us: float, kernel_us: float,
                    bandwidth_gbs: float, gflops: float) -> float:
    per_step = (work.kernels * kernel_us * 1e-6 + (work.weight_bytes + batch * work.state_bytes) / (bandwidth_gbs * 1e9)
                + batch * 2 * work.macs / (gflops * 1e9))
    return (call_us + usb_us) * 1e-6 + work.steps * per_step


def conventional(profile: ChipProfile | str, work: Workload, *, batch: int = 1) -> DeviceEnergy:
    """A GPU, CPU or accelerator running the workload streamed at ``batch`` 1 (a sample at a
    time, step by step), or batched (``batch`` > 1: throughput, device fully loaded)."""
    profile = load_chip(profile) if isinstance(profile, str) else profile
    if profile.device not in ("gpu", "cpu", "accelerator"):
        raise ConfigError("device", f"{profile.name!r} is a {profile.device} profile, not a device model",
                          remedy="use a profile with [chip] device = gpu, cpu or accelerator")
    if batch < 1:
        raise ConfigError("batch", f"must be >= 1, got {batch}")
    st = profile.sections["streaming"]
    time_keys = ["call_us", "kernel_us", "bandwidth_gbs", "gflops"] + (["usb_us"] if "usb_us" in st else [])
    spans = {**_spans(profile, "streaming", *time_keys), **_spans(profile, "power", "idle_w", "max_w")}
    spans.setdefault("usb_us", (0.0, 0.0, 0.0))
    cpu = profile.device == "cpu"
    if cpu:
        spans.update(_spans(profile, "power", "cores", "active_cores"))
    elif batch == 1:
        spans.update(_spans(profile, "power", "utilisation"))
    faster = {"bandwidth_gbs": 2, "gflops": 2, "idle_w": 2, "cores": 2}   # a larger value gives the lower energy

    def seconds(**p: float) -> float:
        return _stream_seconds(work, batch, p["call_us"], p["usb_us"], p["kernel_us"], p["bandwidth_gbs"], p["gflops"])

    def power(**p: float) -> float:
        if cpu:
            busy = p["cores"] if batch > 1 else min(p["active_cores"], p["cores"])
            return busy * (p["max_w"] - p["idle_w"]) / p["cores"]
        return (1.0 if batch > 1 else p["utilisation"]) * (p["max_w"] - p["idle_w"])

    dynamic = _corners(lambda **p: power(**p) * seconds(**p) / batch, spans, faster)
    total = _corners(lambda **p: (p["idle_w"] + power(**p)) * seconds(**p) / batch, spans, {**faster, "idle_w": 0})
    mode = "streamed at batch 1 (a sample at a time, step by step)" if batch == 1 else \
        f"batched: {batch} samples per call, device fully loaded, joules divided by the batch"
    lines = [f"{profile.name} ({profile.device}): {mode}; {work.steps} steps x ({work.kernels} kernels, "
             f"{work.weight_bytes / 1e6:.3g} MB weights + {work.state_bytes / 1e3:.3g} kB state per sample, "
             f"{work.macs:.3g} MACs per sample)"]
    lines += _sources(profile, "streaming", time_keys) + _sources(profile, "power", [k for k in spans if k in
                                                                                      profile.sections["power"]])
    return DeviceEnergy(target=profile.name + ("" if batch == 1 else f"@{batch}"), kind=profile.device,
                        basis="modelled", joules=dynamic, total_joules=total,
                        seconds=_corners(lambda **p: seconds(**p) / batch, spans, faster), assumptions=tuple(lines))


def arithmetic_bound(counts: RunCounts, profile: str = "gpu") -> DeviceEnergy:
    """The counted operations at a 45 nm processor's energy per operation (Horowitz 2014): what the
    arithmetic alone costs, a lower bound of any conventional device, not a device."""
    e = estimate_energy(counts, profile)
    j = e.total_j
    return DeviceEnergy(target=f"{profile} (arithmetic)", kind="gpu", basis="lower bound", joules=Span(j, j, j),
                        total_joules=None, seconds=None,
                        assumptions=("the arithmetic alone (MACs x 4.6 pJ + ACs x 0.9 pJ, 45 nm): no memory traffic, "
                                     "kernel launches or idle power; a lower bound, not a device",) + e.assumptions)


def ratio(a: Span, b: Span) -> Span:
    """a / b as a span (low: a's low over b's high)."""
    return Span(a.low / b.high if b.high else math.inf, a.expected / b.expected if b.expected else math.inf,
                a.high / b.low if b.low else math.inf)
