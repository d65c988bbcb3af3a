"""Ending what a command started: signals, the processes it forked, the shared memory they held.

Lava's Python runtime forks a dozen processes per run (one per Lava process, runtime
services, two multiprocessing managers) that talk through POSIX shared memory
(``/dev/shm``). Left alone, Ctrl-C to the process group makes Lava's own ``stop`` wait
forever for processes that are gone, and SIGTERM to the parent orphans the others with
their memory. So work that starts such processes runs under :func:`interruptible`:

* SIGINT and SIGTERM raise :class:`~spikedeploy.errors.Interrupted` in the process that
  entered the block (a BaseException, so nothing on the way swallows it); a process forked
  inside the block inherits the handler and ends at once (``os._exit(128 + signum)``),
  leaving the clean-up to its parent;
* :meth:`Guard.stop` ends every process started below this one inside the block (SIGTERM,
  then SIGKILL after a deadline), reaps them, and unlinks the ``/dev/shm`` segments made
  inside the block that they or this process had mapped (:func:`stop_descendants`);
* a signal that arrived while library code swallowed exceptions is raised when the block
  ends (:meth:`Guard.check`), so nothing is written after it.

Linux only (``/proc``): the places that need it run Lava, which is Linux only too.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing import resource_tracker
from pathlib import Path
from typing import Any, Iterator

from .errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)
SHM = Path("/dev/shm")


@dataclass(frozen=True)
class Stopped:
    """What :func:`stop_descendants` ended: processes, and shared-memory segments unlinked."""

    processes: int
    segments: int


@dataclass
class Guard:
    """What :func:`interruptible` saw on entry (processes below this one, ``/dev/shm``
    entries) and since (the signal received, None: none).

    ``redeliver_s``: while the block runs and its clean-up has not begun, a received signal is
    raised again every ``redeliver_s`` seconds (None: once). Python drops an exception raised
    in some places (a fork handler, a ``__del__``: "Exception ignored in ..."); a Lava run
    whose workers have ended would then wait for them forever. Redelivery raises it again
    where it is not dropped."""

    owner: int
    processes_before: frozenset[int] = frozenset()
    shm_before: frozenset[str] = frozenset()
    redeliver_s: float | None = None
    received: int | None = None
    cleaning: bool = False
    closed: bool = False
    previous: dict[int, object] = field(default_factory=dict)

    def check(self) -> None:
        """Raise :class:`Interrupted` if a signal arrived (and was swallowed on the way)."""
        if self.received is not None:
            raise Interrupted(self.received)

    def stop(self, grace_s: float = 3.0, kill_s: float = 5.0) -> Stopped:
        """End what was started inside the block (:func:`stop_descendants`); further signals
        are ignored while it runs."""
        self.cleaning = True
        return stop_descendants(keep=self.processes_before, shm_before=self.shm_before, grace_s=grace_s,
                                kill_s=kill_s)

    def handle(self, signum: int, frame: object) -> None:
        """The signal handler (module docstring). Once a signal was received, a later one (or its
        redelivery) is raised again only where it was dropped: not while clean-up runs, and not
        while the Interrupted is being handled (an ``except`` or ``finally`` on its way out)."""
        if os.getpid() != self.owner:
            os._exit(128 + signum)        # a forked worker: its parent cleans up
        if self.cleaning or self.closed:
            return
        if self.received is not None and (self.redeliver_s is None or isinstance(sys.exc_info()[1], Interrupted)):
            return
        self.received = self.received or signum
        if self.redeliver_s is not None:
            timer = threading.Timer(self.redeliver_s, self._redeliver, args=(self.received,))
            timer.daemon = True
            timer.start()
        raise Interrupted(self.received)

    def _redeliver(self, signum: int) -> None:
        if not (self.cleaning or self.closed):
            os.kill(self.owner, signum)


@contextlib.contextmanager
def interruptible(redeliver_s: float | None = None) -> Iterator[Guard]:
    """SIGINT / SIGTERM raise :class:`Interrupted` inside the block (module docstring; see
    :class:`Guard` for ``redeliver_s``). Outside the main thread (where Python cannot install
    handlers) the block runs as it is."""
    guard = Guard(owner=os.getpid(), processes_before=frozenset(descendants()), shm_before=_shm_names(),
                  redeliver_s=redeliver_s)
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return
    for sig in SIGNALS:
        guard.previous[sig] = signal.signal(sig, guard.handle)
    hook = sys.unraisablehook

    def quiet(unraisable: Any) -> None:
        # An Interrupted dropped where Python ignores exceptions is raised again (redelivery,
        # Guard.check): no "Exception ignored" traceback for it.
        if not isinstance(unraisable.exc_value, Interrupted):
            hook(unraisable)

    sys.unraisablehook = quiet
    try:
        yield guard
    finally:
        guard.closed = True
        if os.getpid() == guard.owner:
            sys.unraisablehook = hook
            for sig, old in guard.previous.items():
                signal.signal(sig, old)


def descendants(pid: int | None = None) -> list[int]:
    """Every process below ``pid`` (default: this one), children first, from ``/proc``."""
    root = os.getpid() if pid is None else pid
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()      # after the command name, which may hold spaces
        parent_of[int(entry)] = int(fields[1])
    out, frontier = [], [root]
    while frontier:
        kids = [p for p, pp in parent_of.items() if pp in frontier and p not in out and p != root]
        out.extend(kids)
        frontier = kids
    return out


def shm_segments(pids: list[int]) -> set[Path]:
    """The ``/dev/shm`` files the processes ``pids`` have mapped."""
    found: set[Path] = set()
    for pid in pids:
        try:
            maps = Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            continue
        for line in maps.splitlines():
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].startswith(str(SHM) + "/"):
                found.add(Path(parts[5].replace(" (deleted)", "")))
    return found


def _ignores(pid: int, sig: int) -> bool:
    """True when ``pid`` ignores ``sig`` (its SigIgn mask in ``/proc``): only SIGKILL ends it."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigIgn:"):
                return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    except (OSError, ValueError):
        pass
    return False


def _is_resource_tracker(pid: int) -> bool:
    """Python's multiprocessing resource tracker: shared by everything in this process, ends
    with it, and is told about the segments unlinked here instead of being ended."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"multiprocessing.resource_tracker" in cmdline


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _present(pid: int) -> bool:
    """True while ``/proc`` lists ``pid`` (a zombie included)."""
    return Path(f"/proc/{pid}").exists()


def _wait(pids: list[int], still: Any, wait_s: float) -> None:
    """Reap ended children until none of ``pids`` is ``still(pid)``, at most ``wait_s`` seconds."""
    deadline = time.monotonic() + wait_s
    while True:
        _reap(pids)
        if not any(still(p) for p in pids) or time.monotonic() >= deadline:
            return
        time.sleep(0.02)


def _reap(pids: list[int]) -> None:
    """Collect the exit status of ended children: multiprocessing's own through multiprocessing
    (``active_children`` polls and forgets them, so its exit handler does not join them again),
    any other with ``waitpid``."""
    managed = {p.pid for p in multiprocessing.active_children()}
    for pid in pids:
        if pid not in managed:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)


def _shm_names() -> frozenset[str]:
    try:
        return frozenset(os.listdir(SHM))
    except OSError:
        return frozenset()


def stop_descendants(*, keep: frozenset[int] = frozenset(), shm_before: frozenset[str] | None = None,
                     grace_s: float = 3.0, kill_s: float = 5.0) -> Stopped:
    """End every process below this one but those in ``keep``: SIGTERM, SIGKILL those still
    alive after ``grace_s``, reap them (waiting up to ``kill_s`` more), then unlink the
    ``/dev/shm`` segments they or this process had mapped, except those listed in
    ``shm_before`` (None: every one they had mapped). Returns how many of each."""
    pids = [p for p in descendants() if p not in keep and not _is_resource_tracker(p)]
    segments = {seg for seg in shm_segments([os.getpid(), *pids])
                if shm_before is None or seg.name not in shm_before}
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, kill_s)):
        for pid in pids:
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL if _ignores(pid, sig) else sig)
        _wait(pids, _alive, wait_s)
    _wait(pids, _present, kill_s)          # reaped: no zombie left either
    released = 0
    for seg in segments:
        try:
            seg.unlink()
        except (FileNotFoundError, PermissionError):
            continue
        released += 1
        # Python's shared_memory registered the segment with the resource tracker (every
        # process that attached to it, in a set): it need not unlink it again at exit.
        resource_tracker.unregister(f"/{seg.name}", "shared_memory")
    return Stopped(len(pids), released)
