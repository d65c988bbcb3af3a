"""Refusing what cannot fit: the check against the available memory, with the estimate."""

import pytest

from spikedeploy.errors import ConfigError
from spikedeploy.memory import available_bytes, gib, require


def test_require_names_the_field_the_total_and_each_large_part():
    parts = {"frames": 3 * 2 ** 30, "edges": 100, "weights": 2 ** 31}
    assert require(parts, "--time-steps", remedy="fewer", available=6 * 2 ** 30) == 5 * 2 ** 30 + 100
    with pytest.raises(ConfigError) as err:
        require(parts, "--time-steps", remedy="use fewer time steps", available=4 * 2 ** 30)
    e = err.value
    assert e.field == "--time-steps" and e.remedy == "use fewer time steps"
    assert "needs at least 5.0 GiB" in e.problem and "frames 3.0 GiB" in e.problem and "weights 2.0 GiB" in e.problem
    assert "edges" not in e.problem and "more than the 4.0 GiB" in e.problem


def test_available_memory_is_read_from_the_system():
    avail = available_bytes()
    assert avail is None or 2 ** 20 < avail < 2 ** 50
    assert (gib(2 ** 29), gib(3 * 2 ** 30)) == ("512 MiB", "3.0 GiB")
