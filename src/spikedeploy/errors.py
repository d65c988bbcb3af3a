"""Every error spikedeploy raises on purpose, in one place.

Each exception carries the data that explains it (the file, the node, the
field) and a remedy, so a caller can both show a clear message and act on it.
All derive from :class:`SpikedeployError`; the CLI prints their message and
exits with status 2 instead of a traceback.
"""

from __future__ import annotations

import signal
from pathlib import Path


class SpikedeployError(Exception):
    """Base class. ``remedy`` (optional) says what the user can do about it."""

    remedy: str | None = None

    def __init__(self, message: str, *, remedy: str | None = None):
        self.remedy = remedy
        full = message if remedy is None else f"{message}\n  remedy: {remedy}"
        super().__init__(full)


class DataFormatError(SpikedeployError):
    """A data file (HDF5, wav, folder layout) is missing, malformed or inconsistent."""

    def __init__(self, path: str | Path, problem: str, *, field: str | None = None,
                 remedy: str | None = None):
        self.path = Path(path)
        self.problem = problem
        self.field = field
        where = f"{self.path}" + (f" [{field}]" if field else "")
        super().__init__(f"{where}: {problem}", remedy=remedy)


class MissingDependencyError(SpikedeployError):
    """An optional program or package is not installed."""

    def __init__(self, what: str, install_hint: str):
        self.what = what
        self.install_hint = install_hint
        super().__init__(f"{what} is not available", remedy=install_hint)


class ConfigError(SpikedeployError):
    """A configuration value (preset, neuron name, option, chip) is unknown or invalid."""

    def __init__(self, field: str, problem: str, *, valid: list[str] | tuple[str, ...] | None = None,
                 remedy: str | None = None):
        self.field = field
        self.problem = problem
        self.valid = tuple(valid) if valid is not None else None
        msg = f"{field}: {problem}"
        if self.valid is not None:
            msg += f" (valid: {', '.join(self.valid)})"
        super().__init__(msg, remedy=remedy)


class CheckpointError(SpikedeployError):
    """A checkpoint cannot be loaded or does not match what is asked of it."""

    def __init__(self, path: str | Path, problem: str, *, remedy: str | None = None):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}", remedy=remedy)


class ForeignModelError(SpikedeployError):
    """A model from another tool (a state dict in a file, a torch module) cannot be read: an
    unknown layout, missing or extra keys, a tensor of the wrong shape, a setting with no
    counterpart here. ``source``: the file or module; ``reader``: the ``--from`` name (or None
    while detecting); ``tensor``: the key or module concerned."""

    def __init__(self, source: str | Path, problem: str, *, reader: str | None = None,
                 tensor: str | None = None, remedy: str | None = None):
        self.source = str(source)
        self.reader = reader
        self.tensor = tensor
        self.problem = problem
        where = self.source + (f" (read as {reader})" if reader else "") + (f" [{tensor}]" if tensor else "")
        super().__init__(f"{where}: {problem}", remedy=remedy)


class ShapeMismatchError(SpikedeployError):
    """Two things that must agree in shape do not (data vs model, graph vs data)."""

    def __init__(self, what: str, expected, got, *, remedy: str | None = None):
        self.what = what
        self.expected = expected
        self.got = got
        super().__init__(f"{what}: expected {expected}, got {got}", remedy=remedy)


class TrainingError(SpikedeployError):
    """Training cannot go on (NaN loss, divergence)."""

    def __init__(self, problem: str, *, epoch: int | None = None, step: int | None = None,
                 last_good_checkpoint: str | Path | None = None, remedy: str | None = None):
        self.problem = problem
        self.epoch = epoch
        self.step = step
        self.last_good_checkpoint = last_good_checkpoint
        where = "".join([f" at epoch {epoch}" if epoch is not None else "",
                         f", step {step}" if step is not None else ""])
        kept = (f"; the last good checkpoint is kept at {last_good_checkpoint}"
                if last_good_checkpoint else "")
        super().__init__(f"{problem}{where}{kept}", remedy=remedy)


class DistributedError(SpikedeployError):
    """A multi-process job did not finish (a collective never completed)."""

    def __init__(self, world_size: int, timeout_s: float, alive_ranks: list[int]):
        self.world_size = world_size
        self.timeout_s = timeout_s
        self.alive_ranks = list(alive_ranks)
        super().__init__(
            f"{world_size}-process job: ranks {self.alive_ranks} had not finished after {timeout_s:g} s "
            f"and were killed",
            remedy="check that the processes can reach each other (GLOO_SOCKET_IFNAME names the "
                   "interface gloo uses; 'lo' for one machine), or raise the timeout")


class QuantizationError(SpikedeployError):
    """A value cannot be represented in the chip's fixed point (strict mode)."""

    def __init__(self, layer: str, field: str, problem: str, *, remedy: str | None = None):
        self.layer = layer
        self.field = field
        self.problem = problem
        super().__init__(f"layer {layer!r}, {field}: {problem}", remedy=remedy)


class ConversionError(SpikedeployError):
    """A graph node (NIR, torch module) cannot be converted (unsupported or lossy)."""

    def __init__(self, node: str, node_type: str, problem: str, *, remedy: str | None = None):
        self.node = node
        self.node_type = node_type
        self.problem = problem
        super().__init__(f"node {node!r} ({node_type}): {problem}", remedy=remedy)


class MappingError(SpikedeployError):
    """A layer does not fit the chip's limits."""

    def __init__(self, layer: str, limit: str, needed, available, *, remedy: str | None = None):
        self.layer = layer
        self.limit = limit
        self.needed = needed
        self.available = available
        super().__init__(f"layer {layer!r} needs {limit} = {needed}, the chip allows {available}",
                         remedy=remedy)


class VerificationError(SpikedeployError):
    """Two runs that must agree bit for bit differ."""

    def __init__(self, layer: str, neuron: int, step: int, expected, got, *, sample: int | None = None):
        self.layer = layer
        self.neuron = neuron
        self.step = step
        self.sample = sample
        self.expected = expected
        self.got = got
        where = f"sample {sample}, " if sample is not None else ""
        super().__init__(f"first difference in layer {layer!r}: {where}neuron {neuron}, step {step}: "
                         f"expected {expected}, got {got}")


class ResultsMismatchError(SpikedeployError):
    """A results file belongs to another model or data set than the one given."""

    def __init__(self, path: str | Path, field: str, expected, got):
        self.path = Path(path)
        self.field = field
        super().__init__(f"{self.path}: {field} is {got}, expected {expected} "
                         "(the results come from a different model or data set)",
                         remedy="rerun `spikedeploy lava-run` on this model and data")



class Interrupted(BaseException):
    """Ctrl-C (SIGINT) or SIGTERM ended the work. A BaseException like KeyboardInterrupt, so
    that no ``except Exception`` on the way swallows it. ``stopped`` / ``released``: the
    processes ended and the shared-memory segments unlinked on the way out. The command
    line exits with ``128 + signum`` (130, 143)."""

    def __init__(self, signum: int, *, stopped: int = 0, released: int = 0):
        self.signum = int(signum)
        self.stopped = stopped
        self.released = released
        super().__init__(signum)

    @property
    def exit_status(self) -> int:
        return 128 + self.signum

    def __str__(self) -> str:
        name = signal.Signals(self.signum).name
        cleanup = ""
        if self.stopped or self.released:
            cleanup = (f"; stopped {self.stopped} process(es) it had started and released {self.released} "
                       "shared-memory segment(s)")
        return f"interrupted by {name}{cleanup}"
