"""Counting a Loihi 2 pr-v2 network: hand-placed events against the weights' fan-out."""

import numpy as np
import pytest

from spikedeploy.metrics.devices import operation_joules
from spikedeploy.metrics.graded_ops import graded_counts, graded_workload

from ..quant.test_pr_graded import small_graded_net


def test_each_event_reaches_the_synapses_of_its_column():
    net = small_graded_net()
    h0, h1 = net.hidden
    for l in (h0, h1):                       # a zero weight is no synapse
        l.wf.setflags(write=True)
        l.wf[0, :] = 0
    x = np.zeros((1, 4, 6), dtype=np.uint8)
    x[0, 0, 2] = 1                            # one input spike
    p0 = np.zeros((1, 4, 5), dtype=np.int8)
    p0[0, 1, 3] = 7                           # one graded payload of h0 at step 1 (h1 reads it; h0 itself at 2)
    p1 = np.zeros((1, 4, 4), dtype=np.int8)
    p1[0, 3, 1] = -2                          # h1's payload on the last step: its recurrence never delivers it
    counts = graded_counts(net, x, {"h0": p0, "h1": p1})
    nnz = lambda w, j: int((w[:, j] != 0).sum())  # noqa: E731
    assert counts["h0"]["acs"] == nnz(h0.wf, 2) + nnz(h0.wc, 2) < 2 * 5
    assert counts["h0"]["graded"] == nnz(h0.uf, 3) + nnz(h0.uc, 3)
    assert counts["h1"] == {"acs": 0.0, "graded": nnz(h1.wf, 3) + nnz(h1.wc, 3), "neuron_updates": 4 * 4,
                            "payloads": 1.0, "broadcast": 0.0, "dense_macs": 2 * 4 * (5 + 4) * 4}
    assert counts["readout"]["graded"] == nnz(net.readout.weight, 1) and counts["readout"]["neuron_updates"] == 12
    work = graded_workload(net, counts, steps=4)
    assert work.synops * 4 == pytest.approx(sum(c["acs"] + c["graded"] for c in counts.values()))
    assert work.active_updates == work.neuron_updates == (5 + 4 + 3)
    assert work.spikes * 4 == 2.0
    # energy by the same per-operation model as every path (Loihi 2's estimates)
    assert operation_joules("loihi2", work) > 0
