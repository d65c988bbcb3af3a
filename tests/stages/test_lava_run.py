"""The lava-run stage's own pieces: where the binning comes from, and data that cannot feed the graph."""

import pytest

from spikedeploy.errors import ShapeMismatchError
from spikedeploy.stages.lava_run import check_data_against_graph, resolve_binning


def test_binning_fields_come_from_options_then_the_graph_then_the_defaults():
    b, src = resolve_binning({"n_steps": 50, "duration": 0.5, "binary": False, "pool": 2, "n_channels": 40}, 700,
                             n_steps=20)
    assert (b.n_steps, b.duration, b.binary, b.pool, b.n_channels) == (20, 0.5, False, 2, 700)
    assert src == {"n_steps": "option", "duration": "graph metadata", "pool": "graph metadata",
                   "binary": "graph metadata"}
    b, src = resolve_binning(None, 700)
    assert (b.n_steps, b.duration, b.binary, b.pool) == (100, 1.0, True, 1)
    assert set(src.values()) == {"assumed (default)"}


def test_data_that_does_not_fit_the_graph_is_refused_with_a_remedy():
    b, _ = resolve_binning(None, 700)
    with pytest.raises(ShapeMismatchError, match="more than the graph's 100 inputs") as info:
        check_data_against_graph("d.h5", 700, b, 100, 20, 20)
    assert "--pool 7" in info.value.remedy
    b, _ = resolve_binning(None, 40)
    with pytest.raises(ShapeMismatchError, match="fewer than"):
        check_data_against_graph("d.h5", 40, b, 100, 20, 20)
    b, _ = resolve_binning(None, 100)
    with pytest.raises(ShapeMismatchError, match="classes"):
        check_data_against_graph("d.h5", 100, b, 100, 35, 20)
    check_data_against_graph("d.h5", 100, b, 100, 20, 20)
