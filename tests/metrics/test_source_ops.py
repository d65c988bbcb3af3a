"""Operations of a source network on conventional hardware (metrics.source_ops): each family's
rule checked on a small network against the count written out by hand from its own outputs."""

from __future__ import annotations

import pytest
import torch

from spikedeploy.errors import ConfigError
from spikedeploy.metrics.backend_runs import float_batch
from spikedeploy.metrics.source_ops import count_source_ops, recurrent_baseline_ops
from spikedeploy.models import build_network, get_preset

T, N_IN, C, K = 12, 10, 6, 3


def _net(preset: str, **changes):
    torch.manual_seed(0)
    cfg = get_preset(preset).network.replace(input_size=N_IN, n_classes=K, hidden=[C], **changes)
    return build_network(cfg).eval()


def _x(seed: int = 0) -> torch.Tensor:
    return (torch.rand(4, T, N_IN, generator=torch.Generator().manual_seed(seed)) < 0.3).float()


def _outputs(net, x):
    with torch.no_grad():
        return float_batch(net, x)[1][0]


def _previous(y: torch.Tensor) -> torch.Tensor:
    return torch.cat([torch.zeros_like(y[:, :1]), y[:, :-1]], 1)


def test_pr_v2_multiplies_its_graded_outputs_and_accumulates_its_binary_input():
    net = _net("pr-v2-shd")
    with torch.no_grad():                          # give the quantiser a range so that outputs are non-zero
        net.layers[0].neuron.quantizer.observe(torch.linspace(-2, 2, 50).reshape(-1, 1).expand(-1, C))
    x = _x()
    y = _outputs(net, x)
    assert not bool(((y == 0) | (y == 1)).all()), "pr-v2's outputs are graded"
    nnz_x, nnz_prev, nnz_y = (float((t != 0).sum()) / 4 for t in (x, _previous(y), y))
    ops = count_source_ops(net, x).per_layer
    assert ops["hidden0"]["accumulates"] == pytest.approx(nnz_x * 2 * C + nnz_prev * 2 * C)
    assert ops["hidden0"]["multiplications"] == pytest.approx(nnz_prev * 2 * C + 3 * C * T)
    assert ops["hidden0"]["nonlinear"] == C * T
    assert ops["readout"]["multiplications"] == pytest.approx(nnz_y * K + K * T)   # graded reads + LI decay


def test_a_gpn_pays_its_dense_gate_matrix_every_step():
    net = _net("gpn-small")
    x = _x(1)
    s = _outputs(net, x)
    ops = count_source_ops(net, x).per_layer["hidden0"]
    assert ops["multiplications"] == pytest.approx(8 * C * C * T + 2 * C * T)
    assert ops["accumulates"] == pytest.approx(float((x != 0).sum()) / 4 * C + 8 * C * C * T)
    assert ops["nonlinear"] == 4 * C * T and bool(((s == 0) | (s == 1)).all())


def test_s2net_accumulates_its_lateral_term():
    net = _net("s2net-shd")
    with torch.no_grad():
        net.layers[0].neuron.b.fill_(0.01)         # low thresholds: it spikes
    x = _x(2)
    s = _outputs(net, x)
    assert float(s.sum()) > 0
    ops = count_source_ops(net, x).per_layer["hidden0"]
    assert ops["accumulates"] == pytest.approx(float((x != 0).sum()) / 4 * C + float((_previous(s) != 0).sum()) / 4 * C)
    assert ops["multiplications"] == C * T                # beta * v only: every input is binary


def test_gru_and_lstm_are_counted_dense_and_an_unknown_cell_is_refused():
    gru = recurrent_baseline_ops("gru", 700, 128, 20, 40)
    assert gru.multiplications == 3 * (700 + 128) * 128 * 40 + 3 * 128 * 40 + 20 * 128 == 12_736_000
    lstm = recurrent_baseline_ops("lstm", 700, 128, 20, 40)
    assert lstm.multiplications == 4 * (700 + 128) * 128 * 40 + 3 * 128 * 40 + 20 * 128
    with pytest.raises(ConfigError, match="unknown recurrent cell"):
        recurrent_baseline_ops("rnn", 1, 1, 1, 1)
