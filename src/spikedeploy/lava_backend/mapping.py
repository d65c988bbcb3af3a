"""Core mapping: partition each layer of a network onto a chip's neuromorphic cores.

No Lava needed: the mapping reads the connectivity (which weights are non-zero)
of a :class:`~spikedeploy.quant.loihi_network.LoihiNetwork` (or of a float
:class:`~spikedeploy.netspec.NetworkSpec`) and the chip profile's per-core
limits (``hardware/<chip>.toml`` ``[limits]``, through
:meth:`~spikedeploy.hardware.ChipProfile.core_fit`).

**The model of a core.** A layer's neurons are split into ``c`` contiguous,
nearly equal blocks, one per core (the neurons of one core share the layer's
neuron model, as Loihi's per-core neuron profiles require). For a block of
``k`` neurons:

* ``neurons = k`` (compartments);
* ``axons_in`` (fan-in) = the distinct sources with at least one synapse into the
  block: input channels or previous-layer neurons, plus the layer's own neurons
  when the layer is recurrent;
* ``axons_out`` (fan-out) = for each neuron of the block, the number of cores
  that hold at least one of its targets (next layer, and its own layer's cores
  through the recurrent weights): one output axon per (neuron, destination core).
  The last layer sends nothing on chip (0);
* synaptic memory: each synapse holds a ``w``-bit weight (``num_weight_bits``,
  8 by default); the core takes the smaller of two encodings,
  ``dense = axons_in * k * w`` bits (a full matrix over the block's inputs) and
  ``sparse = synapses * (w + ceil(log2 k))`` bits (each synapse names its target
  compartment), rounded up to bytes. This is a model of Loihi's synapse formats
  (which also have per-axon headers and compressed run-length forms), not their
  exact layout. A layer with delayed taps (``spikedeploy.delays``) counts each tap's
  synapses (one source axon carries every tap: Loihi's synapses hold their own delay),
  the dense form once per tap, and ``ceil(log2(max delay + 1))`` delay bits per synapse;
  its largest delay is checked against the chip's ``max_synaptic_delay`` (Loihi 1: 62
  steps; Loihi 2: 63, Lava's bit-accurate ``DelayDense``).

The layer gets the smallest ``c`` (searched by doubling then bisection from
``ceil(n / neurons_per_core)``) for which every block passes ``core_fit``; a
layer whose single neurons already exceed a limit (e.g. a fan-in above the
chip's axons per core, or more synapses than a core's memory) raises
:class:`~spikedeploy.errors.MappingError` naming the layer and the limit.
Fan-out depends on the next layer's partition, so the partition is repeated
until no layer changes. Limits the chip does not publish (Loihi 2's fan-in and
fan-out) are reported as **unchecked**, never as passed. A network that needs
more cores than one chip has is not an error: the report says how many chips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..delays import NO_DELAYS
from ..errors import ConfigError, MappingError
from ..hardware import ChipProfile, load_chip
from ..netspec import NetworkSpec
from ..nir_io import read_nir
from ..nir_io.load import read_loihi_network
from ..quant.loihi_network import LoihiNetwork
from ..quant.graded_file import is_graded_file, load_graded
from ..quant.loihi2_network import Loihi2Network
from .convert import check_stored_network, convert_graph

#: Per-core limits the mapper checks (``[limits]`` keys of the chip profile).
CORE_LIMITS = ("neurons_per_core", "axons_in_per_core", "axons_out_per_core", "synaptic_memory_bytes_per_core")
#: Whole-chip limits reported next to the core count.
CHIP_LIMITS = ("cores_per_chip", "neurons_per_chip", "synapses_per_chip")


@dataclass(frozen=True, eq=False)
class LayerConnectivity:
    """What the mapper needs of one layer: sizes and which synapses exist.

    ``mask`` bool [n, K n_in] (feed-forward synapses, the taps of ``delays`` side by side),
    ``rec_mask`` bool [n, n] or None. ``sets``: synapse sets per axon and neuron (2 for a Loihi 2
    pr-v2 neuron: its forget and candidate rows), with ``counts`` the exact synapses per neuron
    (the masks then say which axons reach a neuron). ``payload_bits``: the graded payload
    width of the layer's outputs (0: binary spikes).
    """

    name: str
    mask: np.ndarray
    rec_mask: np.ndarray | None = None
    weight_bits: int = 8
    delays: tuple[int, ...] = NO_DELAYS
    sets: int = 1
    counts: np.ndarray | None = None
    payload_bits: int = 0

    @property
    def n(self) -> int:
        return int(self.mask.shape[0])

    @property
    def n_in(self) -> int:
        return int(self.mask.shape[1]) // len(self.delays)

    @property
    def axon_mask(self) -> np.ndarray:
        """bool [n, n_in]: which inputs reach each neuron through any tap (one axon per input)."""
        return self.mask.reshape(self.n, len(self.delays), self.n_in).any(axis=1)

    @property
    def delay_bits(self) -> int:
        return math.ceil(math.log2(max(self.delays) + 1))

    @property
    def synapses(self) -> int:
        if self.counts is not None:
            return int(self.counts.sum())
        return int(self.mask.sum()) + (0 if self.rec_mask is None else int(self.rec_mask.sum()))


def _graded_layer(l: Any) -> LayerConnectivity:
    """A Loihi 2 layer whose neurons are programs: a synapse set per target (pr-v2: forget and
    candidate rows; GPN: the current and four gates) per axon, its payload widths."""
    conns = l.connections()
    ff = [w != 0 for _, w, _, rec in conns if not rec]
    back = [w != 0 for _, w, _, rec in conns if rec]
    counts = sum(m.sum(axis=1) for m in ff + back)
    return LayerConnectivity(l.name, np.logical_or.reduce(ff), np.logical_or.reduce(back), int(l.num_weight_bits),
                             sets=len(ff), counts=counts, payload_bits=max(l.out_bits, l.rec_bits))


def connectivity(network: Any) -> list[LayerConnectivity]:
    """The layers of a LoihiNetwork (integer weights, their ``num_weight_bits``), a NetworkSpec
    (non-zero float weights, 8-bit weights assumed) or a Loihi 2 Loihi2Network."""
    if isinstance(network, Loihi2Network):
        r = network.readout
        return [*(_graded_layer(l) for l in network.hidden),
                LayerConnectivity(r.name, r.weight != 0, None, int(r.num_weight_bits))]
    if isinstance(network, LoihiNetwork):
        return [LayerConnectivity(l.name, l.weight != 0, None if l.rec_weight is None else l.rec_weight != 0,
                                  int(l.num_weight_bits), l.delays) for l in network.layers]
    if isinstance(network, NetworkSpec):
        return [LayerConnectivity(l.name, l.weight != 0, None if l.rec_weight is None else l.rec_weight != 0, 8,
                                  l.delays) for l in network.layers]
    raise ConfigError("network", f"expected a LoihiNetwork or a NetworkSpec, got {type(network).__name__}")


@dataclass(frozen=True)
class CoreLoad:
    """One core's share of a layer."""

    first: int            # first neuron of the block
    neurons: int
    axons_in: int
    axons_out: int
    synapses: int
    synapse_bytes: int
    encoding: str         # "dense" or "sparse" (the smaller)


@dataclass(frozen=True)
class LayerMapping:
    """The partition of one layer."""

    name: str
    neurons: int
    fan_in: int                   # sources of the layer (inputs + own neurons if recurrent)
    recurrent: bool
    cores: tuple[CoreLoad, ...]
    limit: str                    # the limit one core fewer would break ("none": one core)
    unchecked: tuple[str, ...]    # per-core limits the chip does not publish
    max_delay: int = 0            # the largest synaptic delay (steps; 0 without delayed taps)

    @property
    def n_cores(self) -> int:
        return len(self.cores)

    @property
    def synapses(self) -> int:
        return sum(c.synapses for c in self.cores)

    @property
    def synapse_bytes(self) -> int:
        return sum(c.synapse_bytes for c in self.cores)

    def max(self, key: str) -> int:
        return max(getattr(c, key) for c in self.cores)


@dataclass(frozen=True)
class MappingReport:
    """Cores per layer and whether the network fits one chip (:meth:`format`, :meth:`to_dict`)."""

    chip: str
    layers: tuple[LayerMapping, ...]
    limits: dict[str, dict[str, Any]]    # key -> {"value", "status", "source"}
    unchecked: tuple[str, ...]           # limits (per core or per chip) without a published value
    chip_checks: dict[str, dict[str, Any]] = field(default_factory=dict)   # key -> {"needed", "limit", "ok"}

    @property
    def total_cores(self) -> int:
        return sum(l.n_cores for l in self.layers)

    @property
    def cores_per_chip(self) -> int | None:
        return self.limits.get("cores_per_chip", {}).get("value")

    @property
    def chips_needed(self) -> int | None:
        cap = self.cores_per_chip
        return None if cap is None else math.ceil(self.total_cores / cap)

    @property
    def fits_one_chip(self) -> bool | None:
        """True/False when every whole-chip limit is known, None when one is unpublished."""
        if any(v["ok"] is None for v in self.chip_checks.values()):
            return None if all(v["ok"] is not False for v in self.chip_checks.values()) else False
        return all(v["ok"] for v in self.chip_checks.values())

    @property
    def synapses(self) -> int:
        return sum(l.synapses for l in self.layers)

    @property
    def synapse_bytes(self) -> int:
        return sum(l.synapse_bytes for l in self.layers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "chip": self.chip, "total_cores": self.total_cores, "chips_needed": self.chips_needed,
            "fits_one_chip": self.fits_one_chip, "synapses": self.synapses, "synapse_bytes": self.synapse_bytes,
            "limits": self.limits, "unchecked": list(self.unchecked), "chip_checks": self.chip_checks,
            "layers": [{"name": l.name, "neurons": l.neurons, "fan_in": l.fan_in, "recurrent": l.recurrent,
                        "cores": l.n_cores, "limit": l.limit, "synapses": l.synapses,
                        "synapse_bytes": l.synapse_bytes, "max_neurons_per_core": l.max("neurons"),
                        "max_axons_in": l.max("axons_in"), "max_axons_out": l.max("axons_out"),
                        "max_synapse_bytes_per_core": l.max("synapse_bytes"), "max_delay": l.max_delay,
                        "per_core": [c.__dict__ for c in l.cores]} for l in self.layers],
        }

    def format(self) -> str:
        def lim(key: str, unit: str = "") -> str:
            d = self.limits.get(key)
            if d is None or d["value"] is None:
                return "unpublished"
            return f"{d['value']:,}{unit} ({d['status']})"

        lines = [f"chip {self.chip}: neurons/core {lim('neurons_per_core')}, synaptic memory/core "
                 f"{lim('synaptic_memory_bytes_per_core', ' B')}, axons in/core {lim('axons_in_per_core')}, "
                 f"axons out/core {lim('axons_out_per_core')}, cores/chip {lim('cores_per_chip')}",
                 f"{'layer':<14} {'neurons':>7} {'fan-in':>6} {'cores':>5} {'max n/core':>10} "
                 f"{'max axons in':>12} {'max axons out':>13} {'synapses':>9} {'syn. bytes':>10} {'max B/core':>10}"
                 f"  core count set by"]
        for l in self.layers:
            lines.append(f"{l.name:<14} {l.neurons:>7} {l.fan_in:>6} {l.n_cores:>5} {l.max('neurons'):>10} "
                         f"{l.max('axons_in'):>12} {l.max('axons_out'):>13} {l.synapses:>9,} "
                         f"{l.synapse_bytes:>10,} {l.max('synapse_bytes'):>10,}  {l.limit}")
        delayed = [f"{l.name} {l.max_delay}" for l in self.layers if l.max_delay]
        if delayed:
            lines.append(f"synaptic delays (steps, largest per layer): {', '.join(delayed)}; limit "
                         f"{lim('max_synaptic_delay')}: ok")
        lines.append(f"total: {self.total_cores} core(s), {self.synapses:,} synapses, "
                     f"{self.synapse_bytes:,} bytes of synaptic memory (model: docs/lava-backend.md)")
        for key, c in self.chip_checks.items():
            state = "unchecked (unpublished)" if c["ok"] is None else ("ok" if c["ok"] else "EXCEEDED")
            lines.append(f"  {key}: needs {c['needed']:,}, limit {lim(key)}: {state}")
        fits = self.fits_one_chip
        chips = self.chips_needed
        lines.append("fits one chip: " + ("yes" if fits else "unknown (a chip limit is unpublished)" if fits is None
                                          else f"no ({chips} chips by core count)" if chips else "no"))
        if self.unchecked:
            lines.append("unchecked (the chip does not publish these limits): " + ", ".join(self.unchecked))
        return "\n".join(lines)


# ------------------------------------------------------------------------------ core loads

def _blocks(n: int, c: int) -> list[tuple[int, int]]:
    """``c`` contiguous nearly equal blocks of ``range(n)`` (sizes differ by at most one)."""
    edges = np.linspace(0, n, c + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _sources(layer: LayerConnectivity) -> np.ndarray:
    """bool [n, n_in (+ n)]: the axons into each neuron, inputs then own neurons."""
    axons = layer.axon_mask
    return axons if layer.rec_mask is None else np.concatenate([axons, layer.rec_mask], axis=1)


def _synapse_counts(layer: LayerConnectivity) -> np.ndarray:
    """int [n]: the synapses into each neuron (every tap, and the recurrent ones)."""
    if layer.counts is not None:
        return layer.counts
    count = layer.mask.sum(axis=1)
    return count if layer.rec_mask is None else count + layer.rec_mask.sum(axis=1)


def _synapse_bytes(axons_in: int, k: int, synapses: int, bits: int, taps: int = 1,
                   delay_bits: int = 0) -> tuple[int, str]:
    dense = axons_in * k * taps * (bits + delay_bits)
    sparse = synapses * (bits + delay_bits + (max(1, math.ceil(math.log2(k))) if k > 1 else 0))
    return (math.ceil(dense / 8), "dense") if dense <= sparse else (math.ceil(sparse / 8), "sparse")


def _core_of(blocks: list[tuple[int, int]], n: int) -> np.ndarray:
    core = np.empty(n, dtype=np.int64)
    for i, (a, b) in enumerate(blocks):
        core[a:b] = i
    return core


def _fan_out(targets: list[tuple[np.ndarray, list[tuple[int, int]]]], n: int) -> np.ndarray:
    """Per source neuron, the destination cores it reaches: sum over target layers of the
    number of distinct cores holding one of its targets. ``targets``: (mask [m, n], blocks of m)."""
    out = np.zeros(n, dtype=np.int64)
    for mask, blocks in targets:
        for a, b in blocks:
            out += mask[a:b].any(axis=0)
    return out


def _loads(layer: LayerConnectivity, blocks: list[tuple[int, int]], fan_out: np.ndarray) -> list[CoreLoad]:
    src, counts = _sources(layer), _synapse_counts(layer)
    loads = []
    for a, b in blocks:
        axons_in = int(src[a:b].any(axis=0).sum())
        syn = int(counts[a:b].sum())
        nbytes, enc = _synapse_bytes(axons_in, b - a, syn, layer.weight_bits, len(layer.delays) * layer.sets,
                                     layer.delay_bits)
        loads.append(CoreLoad(a, b - a, axons_in, int(fan_out[a:b].sum()), syn, nbytes, enc))
    return loads


class _Mapper:
    def __init__(self, chip: ChipProfile, layers: Sequence[LayerConnectivity]):
        self.chip = chip
        self.layers = list(layers)
        lims = chip.sections.get("limits", {})
        self.cap = {k: (chip.limit(k) if k in lims else None) for k in CORE_LIMITS}

    def fits(self, loads: list[CoreLoad]) -> tuple[bool, str]:
        for c in loads:
            fit = self.chip.core_fit(neurons=c.neurons, axons_in=c.axons_in, axons_out=c.axons_out,
                                     synapse_bytes=c.synapse_bytes)
            if not fit.fits:
                return False, fit.problems[0].split(":")[0]
        return True, ""

    def single_neuron_check(self, i: int, fan_out: np.ndarray) -> None:
        """MappingError when one neuron alone exceeds a per-core limit (no partition helps)."""
        layer = self.layers[i]
        src = _sources(layer)
        need = {"axons_in_per_core": int(src.sum(axis=1).max()) if layer.n else 0,
                "axons_out_per_core": int(fan_out.max()) if fan_out.size else 0}
        per_neuron_syn = _synapse_counts(layer)
        worst = int(per_neuron_syn.argmax()) if layer.n else 0
        need["synaptic_memory_bytes_per_core"] = _synapse_bytes(
            int(src[worst].sum()), 1, int(per_neuron_syn[worst]), layer.weight_bits, len(layer.delays),
            layer.delay_bits)[0]
        remedies = {"axons_in_per_core": "reduce the layer's fan-in (fewer inputs per neuron: pool the input, "
                                         "prune weights, or insert a relay layer)",
                    "axons_out_per_core": "reduce the fan-out (prune weights or merge target cores)",
                    "synaptic_memory_bytes_per_core": "use fewer synapses per neuron or fewer weight bits"}
        for key, needed in need.items():
            cap = self.cap[key]
            if cap is not None and needed > cap:
                raise MappingError(layer.name, key, needed, cap,
                                   remedy=f"a single neuron of this layer already exceeds one core; {remedies[key]}")

    def partition(self, i: int, fan_out: np.ndarray, start: int) -> list[tuple[int, int]]:
        """Smallest block count >= start whose cores all fit (doubling, then bisection)."""
        layer = self.layers[i]
        n = layer.n
        cap_n = self.cap["neurons_per_core"]
        lo = max(start, 1, math.ceil(n / cap_n) if cap_n else 1)
        if self.fits(_loads(layer, _blocks(n, lo), fan_out))[0]:
            return _blocks(n, lo)
        bad = good = lo
        while True:
            bad, good = good, min(good * 2, n)
            ok, why = self.fits(_loads(layer, _blocks(n, good), fan_out))
            if ok:
                break
            if good == n:  # pragma: no cover - single_neuron_check catches this first
                raise MappingError(layer.name, why, "more than one core per neuron", "one",
                                   remedy="reduce the layer's fan-in or synapses per neuron")
        while good - bad > 1:
            mid = (good + bad) // 2
            if self.fits(_loads(layer, _blocks(n, mid), fan_out))[0]:
                good = mid
            else:
                bad = mid
        return _blocks(n, good)

    def reason(self, i: int, count: int, fan_out: np.ndarray) -> str:
        """Which limit keeps the layer from using one core fewer ("none" for one core)."""
        layer = self.layers[i]
        if count <= 1:
            return "none"
        ok, why = self.fits(_loads(layer, _blocks(layer.n, count - 1), fan_out))
        return "search" if ok else why


def map_network(network: Any, chip: str | ChipProfile = "loihi2", *, max_rounds: int = 20) -> MappingReport:
    """Partition ``network`` (LoihiNetwork, NetworkSpec, or a list of :class:`LayerConnectivity`)
    onto ``chip``'s cores; see the module docstring. Raises MappingError for a layer that
    cannot be mapped, naming the layer and the limit."""
    profile = load_chip(chip) if isinstance(chip, str) else chip
    if not isinstance(profile, ChipProfile):
        raise ConfigError("chip", f"expected a chip name or ChipProfile, got {type(chip).__name__}")
    if profile.kind != "neuromorphic":
        raise ConfigError("chip", f"{profile.name!r} is a {profile.kind} target without cores",
                          remedy="map onto a neuromorphic chip profile (loihi1, loihi2)")
    layers = list(network) if isinstance(network, (list, tuple)) else connectivity(network)
    if not layers:
        raise ConfigError("network", "has no layers")
    for a, b in zip(layers[:-1], layers[1:]):
        if b.n_in != a.n:
            raise ConfigError("network", f"layer {b.name!r} takes {b.n_in} inputs, {a.name!r} has {a.n} neurons")
    for layer in layers:
        profile.check_delay(layer.name, max(layer.delays))
        profile.check_payload(layer.name, layer.payload_bits)
    mapper = _Mapper(profile, layers)
    L = len(layers)
    blocks: list[list[tuple[int, int]]] = [[(0, l.n)] for l in layers]
    counts = [0] * L
    for _ in range(max_rounds):
        changed = False
        for i in reversed(range(L)):
            targets = []
            if i + 1 < L:
                targets.append((layers[i + 1].axon_mask, blocks[i + 1]))
            if layers[i].rec_mask is not None:
                targets.append((layers[i].rec_mask, blocks[i]))
            fan_out = _fan_out(targets, layers[i].n)
            mapper.single_neuron_check(i, fan_out)
            new = mapper.partition(i, fan_out, max(counts[i], 1))
            if len(new) != counts[i]:
                changed = True
                counts[i], blocks[i] = len(new), new
        if not changed:
            break
    else:  # pragma: no cover - needs a pathological fan-out cycle
        raise MappingError(layers[0].name, "axons_out_per_core", "a stable partition", f"{max_rounds} rounds",
                           remedy="the fan-out of consecutive layers keeps forcing more cores; prune the weights")
    result = []
    for i, layer in enumerate(layers):
        targets = []
        if i + 1 < L:
            targets.append((layers[i + 1].axon_mask, blocks[i + 1]))
        if layer.rec_mask is not None:
            targets.append((layer.rec_mask, blocks[i]))
        fan_out = _fan_out(targets, layer.n)
        loads = _loads(layer, blocks[i], fan_out)
        unchecked = mapper.chip.core_fit(neurons=0).unchecked
        result.append(LayerMapping(layer.name, layer.n, int(_sources(layer).any(axis=0).sum()),
                                   layer.rec_mask is not None, tuple(loads), mapper.reason(i, len(blocks[i]), fan_out),
                                   tuple(unchecked), max(layer.delays)))
    limits = {}
    for key in CORE_LIMITS + CHIP_LIMITS + ("max_synaptic_delay",):
        if key in profile.sections.get("limits", {}):
            q = profile.quantity("limits", key)
            limits[key] = {"value": q.value, "status": q.status, "source": q.source}
    total_cores = sum(len(b) for b in blocks)
    needs = {"cores_per_chip": total_cores, "neurons_per_chip": sum(l.n for l in layers),
             "synapses_per_chip": sum(l.synapses for l in layers)}
    chip_checks = {}
    for key, needed in needs.items():
        cap = limits.get(key, {}).get("value")
        chip_checks[key] = {"needed": int(needed), "limit": cap, "ok": None if cap is None else bool(needed <= cap)}
    unchecked = tuple(k for k in CORE_LIMITS + CHIP_LIMITS if limits.get(k, {}).get("value") is None)
    return MappingReport(profile.name, tuple(result), limits, unchecked, chip_checks)


@dataclass(frozen=True)
class NirMapping:
    """:func:`map_nir`'s answer: the report, which network was mapped, and what was assumed."""

    report: MappingReport
    source: str                  # "stored integers" or "float network (8-bit weights assumed)"
    notes: tuple[str, ...] = ()


def map_graded_file(path: Any, chip: str | ChipProfile = "loihi2") -> NirMapping:
    """Map a Loihi 2 network file (``fold --target loihi2``) onto ``chip``: its integers, each layer's
    graded payload widths checked against the chip's ``graded_spike_bits`` (MappingError naming the
    layer and the width)."""
    net, _ = load_graded(path)
    profile = load_chip(chip) if isinstance(chip, str) else chip
    cap = profile.limit("graded_spike_bits") or 0
    carries = f"{profile.name} carries {f'up to {cap} bits' if cap else 'binary spikes only'}"
    notes = tuple(f"{l.name}: graded {l.bits}-bit payloads out ({carries}); two synapse sets per axon (forget and "
                  "candidate rows)" if l.kind == "pr-v2" else
                  f"{l.name}: binary spikes out, graded {l.v_bits}-bit broadcast of its state to its own gates "
                  f"({carries}); five synapse sets per input axon (current and four gates)" for l in net.hidden)
    return NirMapping(map_network(net, profile), "Loihi 2 network file (integers, graded payloads)", notes)


def map_file(path: Any, chip: str | ChipProfile = "loihi2", *, dt: float | None = None,
             allow_approx: bool = False) -> NirMapping:
    """:func:`map_graded_file` for a Loihi 2 network file, :func:`map_nir` for a NIR graph."""
    if is_graded_file(path):
        return map_graded_file(path, chip)
    return map_nir(path, chip, dt=dt, allow_approx=allow_approx)


def map_nir(path: Any, chip: str | ChipProfile = "loihi2", *, dt: float | None = None,
            allow_approx: bool = False) -> NirMapping:
    """Map the NIR file ``path`` onto ``chip``: the graph's stored Loihi integers when it has
    them, else its float network read through the Lava converter registry (non-zero weights,
    8-bit weights assumed). ``dt`` only matters for what the conversion accepts (decays
    ``dt / tau`` above 1 are refused in strict mode); without it the graph's own or nir_io's
    default is used."""
    import warnings

    graph = read_nir(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # the notes carry them
        plan = convert_graph(graph, dt, strict=not allow_approx)
    stored = read_loihi_network(graph)
    if stored is not None:
        check_stored_network(stored, plan.spec)
        return NirMapping(map_network(stored, chip), "stored integers", plan.notes)
    return NirMapping(map_network(plan.spec, chip), "float network (8-bit weights assumed)", plan.notes)
