"""The environment script finds Python 3.10 by itself and says what it needs when it cannot."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SD = ROOT / "scripts" / "sd"


def test_finds_a_python_310_even_behind_a_pyenv_shim():
    out = subprocess.run(["bash", str(SD), "find-python"], capture_output=True, text=True, check=True)
    interpreter = out.stdout.strip()
    version = subprocess.run([interpreter, "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version == "(3, 10)"


def test_explicit_interpreter_is_used(tmp_path):
    env = dict(os.environ, SPIKEDEPLOY_ONLY_GIVEN_PYTHON="1", SPIKEDEPLOY_PYTHON=sys.executable,
               PATH="/usr/bin:/bin")
    out = subprocess.run(["bash", str(SD), "find-python"], capture_output=True, text=True, env=env)
    assert out.returncode == 0
    assert Path(out.stdout.strip()) == Path(sys.executable)


def test_no_python_310_stops_with_what_to_install(tmp_path):
    env = dict(os.environ, SPIKEDEPLOY_ONLY_GIVEN_PYTHON="1", SPIKEDEPLOY_PYTHON="/bin/false",
               PATH="/usr/bin:/bin", SPIKEDEPLOY_VENV=str(tmp_path / "venv"))
    out = subprocess.run(["bash", str(SD), "setup"], capture_output=True, text=True, env=env)
    assert out.returncode == 3
    assert "no Python 3.10 interpreter found" in out.stderr
    assert "pyenv install 3.10" in out.stderr and "SPIKEDEPLOY_PYTHON" in out.stderr
    assert not (tmp_path / "venv").exists()
