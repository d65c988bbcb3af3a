"""Producer conventions: reading NIR graphs as the tool that wrote them meant them.

NIR's parameters are continuous; which step a graph was written for, and how some tools
bend the standard, is not in the graph. Each known producer is one small function here
(registry :data:`PRODUCERS`), detected from the graph (:func:`detect_producer`) or named
(``lava-run --producer NAME``), that returns the graph in the standard reading
(docs/nir-conventions.md) and the step it was written for:

- ``spikedeploy``: our metadata states the step (``spikedeploy.dt``); nothing to change.
- ``snntorch`` (snntorch 1.0 ``export_to_nir``): writes ``tau = 1e-4 / (1 - beta)`` and
  ``r = tau / 1e-4`` (``w_in = tau_syn / 1e-4``): the standard reading at **dt = 1e-4 s**,
  which every snnTorch graph satisfies (``tau = r * 1e-4``, the detection). Its reset
  mechanism is not in the graph: ``v_reset = 0`` is written for ``"subtract"`` too, so the
  graph is read with the reset to zero (a note says so).
- ``norse`` (norse 1.1 ``to_nir``): writes ``tau = dt / tau_inv`` (the step times the time
  constant, not the time constant) with ``r = 1``, ``w_in = 1``, adds a CubaLIF's input to
  its current unscaled (``I += x``: ``w_in = 1 / du`` in the standard reading) and an IF's to
  its voltage unscaled (``r = 1 / dt``). Detected by ``r = 1`` with time constants below
  0.5 ms (no physical membrane is that fast; norse's default dt of 1 ms and a 10 ms membrane
  give 1e-5). Its step is not in the graph: ``dt`` (``lava-run --dt``) is norse's ``dt``,
  default norse's own default, 1 ms.

A graph that matches none is read as NIR says, at the step the caller chooses.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import nir
import numpy as np

from ..errors import ConfigError, DataFormatError
from .convention import KEY_CONVENTION
from .load import read_nir
from .metadata_codec import decode

#: snnTorch's fixed step (``export_nir.py``: ``dt = 1e-4``).
SNNTORCH_DT = 1e-4
#: norse's default ``dt`` (``to_nir(..., dt=0.001)``).
NORSE_DT = 1e-3
#: Time constants below this (s) are taken for norse's ``dt / tau_inv`` when r = 1.
NORSE_TAU_LIMIT = 5e-4
_LEAKY = (nir.LIF, nir.CubaLIF, nir.LI, nir.CubaLI)


@dataclass(frozen=True)
class ProducerReading:
    """``graph`` in the standard reading, the step its parameters are for (None: unknown) and notes."""

    producer: str | None
    graph: nir.NIRGraph
    dt: float | None
    notes: tuple[str, ...] = ()


def _neurons(graph: nir.NIRGraph) -> Iterator[Any]:
    for node in graph.nodes.values():
        if isinstance(node, nir.NIRGraph):
            yield from _neurons(node)
        elif isinstance(node, (*_LEAKY, nir.IF, nir.I)):
            yield node


def _tau(node: Any) -> np.ndarray:
    return np.asarray(node.tau_mem if hasattr(node, "tau_mem") else node.tau, dtype=np.float64)


def _is_ours(graph: nir.NIRGraph) -> bool:
    return KEY_CONVENTION in decode(graph.metadata or {})


def _is_snntorch(graph: nir.NIRGraph) -> bool:
    leaky = [n for n in _neurons(graph) if isinstance(n, _LEAKY)]
    if not leaky or _is_ours(graph):
        return False
    for n in leaky:
        if not np.allclose(_tau(n), np.asarray(n.r, np.float64) * SNNTORCH_DT, rtol=1e-5, atol=0):
            return False
        if hasattr(n, "tau_syn") and not np.allclose(np.asarray(n.tau_syn, np.float64),
                                                     np.asarray(n.w_in, np.float64) * SNNTORCH_DT, rtol=1e-5):
            return False
    return True


def _is_norse(graph: nir.NIRGraph) -> bool:
    leaky = [n for n in _neurons(graph) if isinstance(n, _LEAKY)]
    if not leaky or _is_ours(graph):
        return False
    return all(np.all(np.asarray(n.r) == 1) and np.all(_tau(n) < NORSE_TAU_LIMIT) for n in leaky)


def _as_snntorch(graph: nir.NIRGraph, dt: float | None) -> ProducerReading:
    notes = [f"read as an snnTorch graph: its time constants are written for dt = {SNNTORCH_DT:g} s per step",
             "snnTorch writes v_reset = 0 whatever the reset mechanism: the graph is read with Loihi's reset to "
             "zero, which is snnTorch's Leaky(reset_mechanism='zero'); its default 'subtract', and the 'zero' of "
             "Synaptic / RLeaky (which also drops the next step's input), run differently in snnTorch"]
    if dt is not None and dt != SNNTORCH_DT:
        notes.append(f"dt = {dt:g} s given: the graph is read at that step instead")
    return ProducerReading("snntorch", graph, SNNTORCH_DT if dt is None else dt, tuple(notes))


def _norse_node(node: Any, dt: float) -> Any:
    node = copy.deepcopy(node)
    if isinstance(node, _LEAKY):
        if hasattr(node, "tau_mem"):
            node.tau_mem = np.asarray(node.tau_mem, np.float64) / dt
            node.tau_syn = np.asarray(node.tau_syn, np.float64) / dt
            node.w_in = node.tau_syn / dt           # 1 / du: norse adds the input to the current unscaled
        else:
            node.tau = np.asarray(node.tau, np.float64) / dt
    elif isinstance(node, (nir.IF, nir.I)):
        node.r = np.full(np.shape(node.r), 1.0 / dt)    # norse's IF adds its input to v unscaled
    return node


def _norse_graph(graph: nir.NIRGraph, dt: float) -> nir.NIRGraph:
    nodes = {k: _norse_graph(v, dt) if isinstance(v, nir.NIRGraph) else _norse_node(v, dt)
             for k, v in graph.nodes.items()}
    return nir.NIRGraph(nodes=nodes, edges=list(graph.edges), metadata=dict(graph.metadata or {}),
                        type_check=False)


def _as_norse(graph: nir.NIRGraph, dt: float | None) -> ProducerReading:
    step = NORSE_DT if dt is None else float(dt)
    notes = [f"read as a norse graph: norse writes tau = dt / tau_inv; read with norse's dt = {step:g} s"
             + ("" if dt is not None else " (its default; give --dt for another)") + ", its CubaLIF input unscaled "
             "(w_in = 1 / du) and its IF input unscaled (r = 1 / dt)"]
    return ProducerReading("norse", _norse_graph(graph, step), step, tuple(notes))


def _as_nir(graph: nir.NIRGraph, dt: float | None) -> ProducerReading:
    return ProducerReading(None, graph, dt)


def _as_ours(graph: nir.NIRGraph, dt: float | None) -> ProducerReading:
    return ProducerReading("spikedeploy", graph, dt)


@dataclass(frozen=True)
class Producer:
    """One producer: ``detect(graph) -> bool`` and ``read(graph, dt) -> ProducerReading``."""

    detect: Callable[[nir.NIRGraph], bool]
    read: Callable[[nir.NIRGraph, float | None], ProducerReading]


#: Known producers, detected in this order (one line each).
PRODUCERS: dict[str, Producer] = {
    "spikedeploy": Producer(_is_ours, _as_ours),
    "snntorch": Producer(_is_snntorch, _as_snntorch),
    "norse": Producer(_is_norse, _as_norse),
    "nir": Producer(lambda g: False, _as_nir),
}


def detect_producer(graph: nir.NIRGraph) -> str | None:
    """The first producer of :data:`PRODUCERS` whose convention the graph matches (None: none)."""
    for name, p in PRODUCERS.items():
        if p.detect(graph):
            return name
    return None


def read_as(graph: nir.NIRGraph, producer: str | None = None, dt: float | None = None) -> ProducerReading:
    """``graph`` read with ``producer``'s convention (None: detected; ``"nir"``: the standard
    reading as written). ``dt``: the step given by the caller (norse: norse's dt)."""
    name = producer if producer is not None else (detect_producer(graph) or "nir")
    if name not in PRODUCERS:
        raise ConfigError("producer", f"unknown producer {name!r}", valid=tuple(PRODUCERS))
    return PRODUCERS[name].read(graph, dt)


def read_foreign_nir(path) -> tuple[nir.NIRGraph, tuple[str, ...]]:
    """Read a NIR file, type-checked; a graph that fails only nir's type inference (norse 1.1
    writes its Input with the batch dimension, ``[1, n]`` into an Affine of ``[n]``) is read
    without the check, with a note: the reader checks the structure itself."""
    try:
        return read_nir(path), ()
    except DataFormatError as err:
        if "Type inference error" not in str(err):
            raise
        graph = read_nir(path, type_check=False)
        first = str(err).split("Type inference error:")[-1].split(")")[0].strip()
        return graph, (f"nir's type check fails ({first}); read without it, the structure is checked here",)

