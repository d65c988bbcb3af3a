"""Ctrl-C and SIGTERM during a real Lava run: the run ends within seconds with one line and
exit status 130 / 143, every process it started is gone, no shared-memory segment it made
is left in /dev/shm, and no output file is written. And Ctrl-C while a command starts
(while torch is imported, where it used to be swallowed) ends it the same way.

Each run is ``spikedeploy lava-run`` in its own process group (as a terminal runs it),
long enough to be signalled while Lava's processes run (a 400-step gap after each sample,
one copy)."""

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spikedeploy.processes import descendants, shm_segments

from ..stages.compare_setup import make_case

needs_lava = pytest.mark.skipif(importlib.util.find_spec("lava") is None, reason="lava-nc is not installed")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    case = make_case(tmp_path_factory.mktemp("signals"))
    return case["nir"], case["test"]


def _group(pgid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                out.append(int(entry))
    return out


def _run_and_signal(model, tmp_path, sig, *, to_group: bool, when_children: int):
    nir_path, data = model
    out = tmp_path / "results.npz"
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "w") as err:
        p = subprocess.Popen([sys.executable, "-m", "spikedeploy", "lava-run", str(nir_path), "--data", str(data),
                              "--replicas", "1", "--gap", "400", "--out", str(out), "--no-progress"],
                             stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(descendants(p.pid)) < when_children:          # Lava's processes are starting / running
            assert p.poll() is None and time.monotonic() < deadline, "the run ended before it was signalled"
            time.sleep(0.02)
        # the segments the run's processes have mapped (not any other program's, on a busy machine)
        segments = shm_segments(_group(p.pid))
        if to_group:
            os.killpg(p.pid, sig)
        else:
            os.kill(p.pid, sig)
        t0 = time.monotonic()
        code = p.wait(timeout=30)
        seconds = time.monotonic() - t0
        deadline = time.monotonic() + 30
        while _group(p.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _group(p.pid)
    finally:
        for pid in _group(p.pid):                      # never leave a failed test's processes behind
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    left_shm = {seg.name for seg in segments if seg.exists()}
    return code, seconds, left, (len(segments), left_shm), out.exists(), err_path.read_text().strip().splitlines()


@pytest.mark.lava
@needs_lava
@pytest.mark.parametrize("sig, to_group", [(signal.SIGINT, True), (signal.SIGTERM, False),
                                           (signal.SIGTERM, True), (signal.SIGINT, False)],
                         ids=["ctrl-c-to-the-group", "sigterm-to-the-parent", "sigterm-to-the-group",
                              "sigint-to-the-parent"])
def test_a_signal_ends_the_lava_run_and_everything_it_started(model, tmp_path, sig, to_group):
    code, seconds, left, (mapped, left_shm), written, err = _run_and_signal(model, tmp_path, sig, to_group=to_group,
                                                                           when_children=8)
    assert code == 128 + sig and seconds < 15
    assert mapped > 0 and left == [] and left_shm == set() and not written
    assert len(err) == 1 and err[0].startswith(f"spikedeploy: interrupted by {signal.Signals(sig).name}; stopped ")


@pytest.mark.lava
@needs_lava
def test_ctrl_c_while_lava_starts_its_processes_is_not_swallowed(model, tmp_path):
    code, seconds, left, (_, left_shm), written, err = _run_and_signal(model, tmp_path, signal.SIGINT,
                                                                       to_group=True, when_children=1)
    assert code == 130 and seconds < 15
    assert left == [] and left_shm == set() and not written
    assert len(err) == 1 and err[0].startswith("spikedeploy: interrupted by SIGINT")


@pytest.mark.parametrize("delay", [0.15, 0.3, 0.6])
def test_ctrl_c_while_the_command_starts_ends_it(model, tmp_path, delay):
    """Before this, a Ctrl-C that landed while torch was imported was dropped: training ran to the
    end, wrote its checkpoint and exited 0."""
    _, data = model
    out = tmp_path / "m.pt"
    config = tmp_path / "train.toml"
    config.write_text("preset = \"lif-ff-shd\"\n[model]\ninput_size = 40\nn_classes = 4\nhidden = [8]\n"
                      "[binning]\nn_steps = 20\nduration = 0.5\n[training]\nepochs = 20\n")
    p = subprocess.Popen([sys.executable, "-m", "spikedeploy", "train", "--config", str(config), "--data",
                          str(data.parent), "--out", str(out), "--no-progress"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(delay)
    os.killpg(p.pid, signal.SIGINT)
    _, err = p.communicate(timeout=60)
    lines = err.decode().strip().splitlines()
    assert p.returncode == 130 and not out.exists()
    assert len(lines) == 1 and lines[0].startswith("spikedeploy: interrupted by SIGINT")
