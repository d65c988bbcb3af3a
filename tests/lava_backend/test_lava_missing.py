"""Without Lava the backend says how to install it (runs with or without lava-nc)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from spikedeploy.errors import MissingDependencyError


def test_missing_lava_raises_with_install_hint(monkeypatch):
    import spikedeploy.lava_backend as backend
    from spikedeploy.lava_backend.run import run_stream

    from ..quant.small_nets import single_neuron

    monkeypatch.setitem(sys.modules, "lava.magma.core.run_configs", None)   # import now fails
    assert backend.lava_available() is False
    with pytest.raises(MissingDependencyError) as info:
        run_stream(single_neuron([[2]], 0, 0, 0, 10), np.zeros((1, 3, 1), dtype=np.uint8))
    assert "scripts/sd setup" in str(info.value) and "spikedeploy[lava]" in str(info.value)


def test_package_imports_without_touching_lava():
    import subprocess
    code = ("import sys, spikedeploy.lava_backend.build, spikedeploy.lava_backend.run, "
            "spikedeploy.quant.emulator; "
            "print(any(m == 'lava' or m.startswith('lava.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
