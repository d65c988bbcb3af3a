"""Ending what a block started: the signal becomes Interrupted, forked workers and the
shared memory they made are gone afterwards, a swallowed signal is raised again."""

import multiprocessing
import os
import signal
import time
from multiprocessing import shared_memory
from pathlib import Path

import pytest

from spikedeploy.errors import Interrupted
from spikedeploy.processes import descendants, interruptible, shm_segments

CTX = multiprocessing.get_context("fork")


def _worker(ready, name):
    shm = shared_memory.SharedMemory(name=name)           # attach, keep it mapped
    ready.set()
    while True:
        time.sleep(0.05)
        shm.buf[0] = 1


def test_sigterm_raises_interrupted_and_stop_ends_the_workers_and_unlinks_their_memory():
    with pytest.raises(Interrupted) as err:
        with interruptible() as guard:
            seg = shared_memory.SharedMemory(create=True, size=4096)
            ready = [CTX.Event() for _ in range(3)]
            workers = [CTX.Process(target=_worker, args=(r, seg.name)) for r in ready]
            for w in workers:
                w.start()
            for r in ready:
                assert r.wait(10)
            mine = descendants()
            assert {w.pid for w in workers} <= set(mine)
            assert Path("/dev/shm") / seg.name in shm_segments([w.pid for w in workers])
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)                               # the handler raises long before
            except Interrupted:
                stopped = guard.stop()
                seg.close()
                raise
    assert err.value.signum == signal.SIGTERM and err.value.exit_status == 143
    assert stopped.processes >= 3 and stopped.segments >= 1
    assert not any(w.is_alive() for w in workers)
    assert not (Path("/dev/shm") / seg.name).exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL       # the handlers are restored


def test_a_swallowed_signal_is_raised_again_and_by_check():
    with interruptible(redeliver_s=0.05) as guard:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        except Interrupted:
            pass                                            # library code that drops it
        t0 = time.monotonic()
        with pytest.raises(Interrupted):
            time.sleep(5)                                   # redelivered within ~50 ms
        assert time.monotonic() - t0 < 2
        guard.stop()                                        # clean-up started: no more redelivery
        time.sleep(0.2)
        with pytest.raises(Interrupted):
            guard.check()
    with interruptible() as quiet:                          # nothing received: check passes
        quiet.check()


def test_a_forked_worker_ends_at_once_on_the_signal():
    with interruptible() as guard:
        proc = CTX.Process(target=time.sleep, args=(30,))
        proc.start()
        time.sleep(0.2)
        os.kill(proc.pid, signal.SIGINT)
        proc.join(5)
        assert proc.exitcode == 130                         # os._exit(128 + SIGINT), no traceback
        guard.check()
