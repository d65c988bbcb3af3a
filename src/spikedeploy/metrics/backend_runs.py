"""The runs a comparison counts: the float model and the bit-exact emulator on the same
samples, each counted with the same code (:class:`~spikedeploy.metrics.run_counts.RunCounter`),
the per-layer table across runs, and the GPU's measured energy (NVML) around float inferences.
"""

from __future__ import annotations

import math
import time
from typing import Any, Mapping

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import SpikedeployError
from ..fold.s2net_conv import conv_synapses
from ..models.conv import ConvSpikingNetwork
from ..quant.emulator import EmulatorResult, emulate, emulator_logits, stream_reference
from .comparison import NOT_MEASURED, BackendRun, LayerComparison, relative_difference
from .nvml import NOT_AVAILABLE, GpuEnergyMeasurement, gpu_energy_status, measure_gpu_energy
from .records import LayerWeights, RunCounts, layers_from_model
from .run_counts import RunCounter


def _state_tensors(state: Any) -> tuple[torch.Tensor, ...]:
    """The state variables of a hidden layer's neuron state (u, v; the GPN's v), not its spikes."""
    if isinstance(state, torch.Tensor):
        return (state,)
    fields = getattr(state, "_fields", None)
    if fields is None:
        return tuple(state)
    return tuple(getattr(state, f) for f in fields if f not in ("s", "v_reset"))


@torch.no_grad()
def float_batch(model: Any, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[Any], torch.Tensor]:
    """Step the SpikingNetwork through ``x``: (logits, spikes per hidden layer, states per layer
    incl. the readout, readout trace). Evaluation semantics (no dropout), as ``forward_steps``."""
    states = model.initial_state(x.shape[0], x.device, x.dtype)
    n_hidden = len(model.layers)
    spikes: list[list[torch.Tensor]] = [[] for _ in range(n_hidden)]
    st: list[list[tuple[torch.Tensor, ...]]] = [[] for _ in range(n_hidden)]
    vs = []
    for x_t in x.unbind(1):
        v, sp, states = model.step(x_t, states)
        for k in range(n_hidden):
            spikes[k].append(sp[k])
            st[k].append(_state_tensors(states[k]))
        vs.append(v)
    trace = torch.stack(vs, 1)
    reduce = model.readout.reduce
    logits = trace.amax(1) if reduce == "max" else trace[:, -1] if reduce == "last" else trace[:, -1] / x.shape[1]
    spk = [torch.stack(s, 1) for s in spikes]
    states_out = [tuple(torch.stack([s[j] for s in st[k]], 1) for j in range(len(st[k][0])))
                  for k in range(n_hidden)]
    states_out.append((trace,))
    return logits, spk, states_out, trace


@torch.no_grad()
def conv_batch(model: ConvSpikingNetwork, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[Any], None]:
    """:func:`float_batch` for s2net's conv network: its spikes flattened channel-major (the rows
    of its dense fold); no neuron states (the neuron updates count every neuron as active)."""
    logits, spikes = model(x, return_spikes=True)
    return logits, [s.flatten(2) for s in spikes], [], None


def float_layers(model: Any, dt: float) -> tuple[Any, Any]:
    """``(layers counted, batch function)`` of a float model: a SpikingNetwork's own layers, or
    s2net's conv layers in their dense form (the same synapses, the time taps as delays)."""
    if isinstance(model, ConvSpikingNetwork):
        layers = [LayerWeights(name, taps, lateral, True, None, delays)
                  for name, taps, lateral, delays in conv_synapses(model)]
        readout = model.readout.synapse.weight.detach()
        return tuple(layers) + (LayerWeights("readout", readout, spiking=False),), conv_batch
    return layers_from_model(model), float_batch


def run_float(name: str, label: str, model: Any, x: torch.Tensor, y: np.ndarray, dt: float,
               device: torch.device, batch_size: int, raster_sample: int, progress: bool
               ) -> tuple[BackendRun, dict[str, np.ndarray]]:
    layers, batch = float_layers(model, dt)
    counter = RunCounter(layers, dt=dt)
    names = [l.name for l in layers]
    preds, raster = [], {}
    model = model.to(device).eval()
    t0 = time.perf_counter()
    for b0 in tqdm(range(0, x.shape[0], batch_size), desc=f"{name} run ({device.type})", unit="batch",
                   disable=not progress, leave=False):
        xb = x[b0:b0 + batch_size].to(device=device, dtype=torch.float32)
        logits, spikes, states, _ = batch(model, xb)
        preds.append(logits.argmax(1).cpu())
        cpu = lambda t: t.detach().cpu()  # noqa: E731
        sp = {n: cpu(s) for n, s in zip(names, spikes)}
        stt = {n: tuple(cpu(t) for t in s) for n, s in zip(names, states)}
        counter.update(xb.cpu(), sp, states=stt)
        if b0 <= raster_sample < b0 + xb.shape[0]:
            raster = {n: sp[n][raster_sample - b0].numpy().astype(bool) for n in sp}
    seconds = time.perf_counter() - t0
    p = torch.cat(preds).numpy().astype(np.int64)
    return BackendRun(name, label, counter.compute(), p, float((p == y).mean()), seconds, str(device)), raster


def emulator_batches(net: Any, xb: torch.Tensor, batch_size: int, stream: tuple[int, int] | None):
    """``(inputs, EmulatorResult)`` per batch: independent runs (``emulate``), or, with
    ``stream = (replicas, gap)``, the Lava run's own stream replayed (``stream_reference``)."""
    if stream is None:
        for b0 in range(0, xb.shape[0], batch_size):
            xs = xb[b0:b0 + batch_size]
            yield xs, emulate(net, xs, record=("s", "v", "u"), on_overflow="ignore")
        return
    res = stream_reference(net, xb.numpy(), stream[0], stream[1], record=("s", "v", "u"))
    for b0 in range(0, xb.shape[0], batch_size):
        cut = lambda d: {k: v[b0:b0 + batch_size] for k, v in d.items()}  # noqa: E731
        yield xb[b0:b0 + batch_size], EmulatorResult(res.layer_names, cut(res.spikes), cut(res.voltage),
                                                     cut(res.current), res.overflow if b0 == 0 else {})


def run_emulator(net: Any, xb: torch.Tensor, y: np.ndarray, dt: float, batch_size: int, progress: bool,
                  stream: tuple[int, int] | None = None
                  ) -> tuple[BackendRun, dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, dict[str, int]]]:
    counter = RunCounter(net, dt=dt)
    spikes: dict[str, list[torch.Tensor]] = {n: [] for n in net.layer_names}
    readout_v: list[torch.Tensor] = []
    preds = []
    overflow = {n: {"a_in": 0, "readout_spikes": 0} for n in net.layer_names}
    t0 = time.perf_counter()
    batches = emulator_batches(net, xb, batch_size, stream)
    for xs, res in tqdm(batches, total=-(-xb.shape[0] // batch_size), desc="emulator run", unit="batch",
                        disable=not progress, leave=False):
        preds.append(emulator_logits(net, res.readout).argmax(1))
        counter.update(xs, dict(res.spikes), states={n: (res.current[n], res.voltage[n]) for n in net.layer_names})
        for n in net.layer_names:
            spikes[n].append(res.spikes[n])
            for k in overflow[n]:
                overflow[n][k] += int(res.overflow.get(n, {}).get(k, 0))
        readout_v.append(res.readout)
    seconds = time.perf_counter() - t0
    p = torch.cat(preds).numpy().astype(np.int64)
    title = "bit-exact emulator (integers)" + (", Lava's stream timing" if stream is not None else "")
    run = BackendRun("emulator", title, counter.compute(), p, float((p == y).mean()), seconds, "cpu")
    return run, {n: torch.cat(v) for n, v in spikes.items()}, {net.layer_names[-1]: torch.cat(readout_v)}, overflow


def check_counts_equal(emu: RunCounts, lava: RunCounts) -> None:
    """Spikes, rates, SynOps and sparsity of the Lava run equal the emulator's (``==``)."""
    for what in ("spikes", "synops", "sparsity", "inputs"):
        if getattr(emu, what) != getattr(lava, what):
            raise SpikedeployError(f"the Lava run's {what} counts differ from the emulator's although every "
                                   "spike is equal", remedy="report this as a bug (metrics.backend_runs)")


def layer_table(runs: Mapping[str, BackendRun]) -> tuple[LayerComparison, ...]:
    rows = {k: {r.name: r for r in run.counts.rows()} for k, run in runs.items()}
    out = []
    for name in runs["emulator"].counts.layers:
        per = {k: rows[k].get(name) for k in runs}
        ref, emu = per["float"], per["emulator"]
        syn = lambda r: None if r is None else r.effective_acs + r.effective_macs  # noqa: E731
        out.append(LayerComparison(
            name=name, n_neurons=emu.n_neurons, spiking=emu.spiking,
            rate={k: None if r is None else r.rate_per_step for k, r in per.items()},
            rate_hz={k: None if r is None else r.rate_hz for k, r in per.items()},
            acs={k: r.effective_acs for k, r in per.items() if r is not None},
            macs={k: r.effective_macs for k, r in per.items() if r is not None},
            synops={k: syn(r) for k, r in per.items() if r is not None},
            dense={k: r.dense_ops for k, r in per.items() if r is not None},
            rate_rel=relative_difference(ref.rate_per_step, emu.rate_per_step) if emu.spiking else None,
            synops_rel=relative_difference(syn(ref), syn(emu))))
    return tuple(out)


def measure_gpu(model: Any, x: torch.Tensor, device: torch.device, batch_size: int, min_seconds: float,
                     nvml: Any) -> tuple[GpuEnergyMeasurement | None, str]:
    if device.type != "cuda" and nvml is None:
        status = gpu_energy_status()
        if status is None:
            return None, "not measured: the float model ran on the CPU (choose the GPU with --device cuda)"
        return None, _not_measured(status)
    dev_x = x.to(device=device, dtype=torch.float32)

    @torch.no_grad()
    def once() -> None:
        for b0 in range(0, dev_x.shape[0], batch_size):
            model(dev_x[b0:b0 + batch_size])

    t0 = time.perf_counter()
    once()
    if device.type == "cuda":
        torch.cuda.synchronize()
    per_pass = max(time.perf_counter() - t0, 1e-6)
    repeats = max(1, math.ceil(min_seconds / per_pass))

    def run() -> None:
        for _ in range(repeats):
            once()

    index = device.index or 0
    m = measure_gpu_energy(run, repeats * int(dev_x.shape[0]), device_index=index, nvml=nvml,
                           synchronize=torch.cuda.synchronize if device.type == "cuda" else None)
    if m is None:
        return None, _not_measured(gpu_energy_status(index, nvml=nvml) or "")
    return m, "measured"


def _not_measured(status: str) -> str:
    """``NOT_MEASURED`` with NVML's reason (without repeating "no NVIDIA GPU")."""
    if status.startswith(NOT_AVAILABLE):
        status = status[len(NOT_AVAILABLE):].strip(" ()")
        return NOT_MEASURED + (f" ({status})" if status else "")
    return f"not measured: {status}" if status else NOT_MEASURED
