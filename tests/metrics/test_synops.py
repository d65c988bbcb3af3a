"""SynapticOperations and gpn_layer_ops against hand counts (tests/metrics/hand_network.py)."""

import numpy as np
import pytest
import torch

from spikedeploy.errors import ConfigError, ShapeMismatchError
from spikedeploy.metrics import SynapticOperations, gpn_layer_ops

from . import hand_network as H


def _hand_ops(decide_per="sample_step"):
    return (SynapticOperations(decide_per)
            .update("h", H.X, H.W1, rec_inputs=H.S, rec_weight=H.R)
            .update("out", H.S, H.W2)
            .compute())


def test_hand_count_per_sample_step():
    r = _hand_ops()
    h, out = r.per_layer["h"], r.per_layer["out"]
    assert h.per_sample_acs == H.H_ACS_PER_SAMPLE
    assert h.per_sample_macs == H.H_MACS_PER_SAMPLE
    assert h.per_sample_dense == (H.H_DENSE, H.H_DENSE)
    assert (h.effective_acs, h.effective_macs, h.dense_ops) == (5.5, 2.0, 30.0)
    assert out.per_sample_acs == H.OUT_ACS_PER_SAMPLE and out.macs_total == 0
    assert out.dense_ops == H.OUT_DENSE
    assert (r.effective_acs, r.effective_macs, r.dense_ops) == (11.0, 2.0, 42.0)
    assert r.to_dict()["Effective_ACs"] == 11.0 and r.n_samples == 2


def test_hand_count_per_batch_step_is_neurobench_stepping():
    h = _hand_ops("batch_step").per_layer["h"]
    assert h.per_sample_acs == H.H_ACS_BATCH_STEP
    assert h.per_sample_macs == H.H_MACS_BATCH_STEP
    # The two rules count the same products; only the AC/MAC split moves.
    assert h.acs_total + h.macs_total == sum(H.H_ACS_PER_SAMPLE) + sum(H.H_MACS_PER_SAMPLE)


def test_per_sample_step_does_not_depend_on_the_batch():
    one_by_one = SynapticOperations()
    for b in range(2):
        one_by_one.update("h", H.X[b:b + 1], H.W1, rec_inputs=H.S[b:b + 1], rec_weight=H.R)
    assert one_by_one.compute().per_layer["h"] == _hand_ops().per_layer["h"]


def test_dtypes_and_numpy_give_identical_counts():
    a = SynapticOperations().update("out", H.S, H.W2).compute()
    b = SynapticOperations().update("out", H.S.numpy().astype(np.int8), H.W2.numpy()).compute()
    c = SynapticOperations().update("out", H.S.bool(), H.W2.double()).compute()
    assert a == b == c


def test_dense_matches_every_product_with_random_weights():
    # Effective ops equal the brute-force binarised product sum, on random sparse data.
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(4, 7, 11, generator=g) < 0.3).float() * torch.randint(1, 3, (4, 7, 11), generator=g)
    w = torch.randn(5, 11, generator=g) * (torch.rand(5, 11, generator=g) < 0.6)
    r = SynapticOperations().update("l", x, w).compute().per_layer["l"]
    brute = ((x != 0).float() @ (w != 0).float().T).sum(dim=(1, 2))
    per_sample = tuple(int(a + m) for a, m in zip(r.per_sample_acs, r.per_sample_macs))
    assert per_sample == tuple(int(v) for v in brute)
    assert r.dense_total == 4 * 7 * 11 * 5


def test_batches_accumulate_samples():
    ops = SynapticOperations()
    ops.update("out", H.S[:1], H.W2).update("out", H.S[1:], H.W2)
    r = ops.compute().per_layer["out"]
    assert r.n_samples == 2 and r.per_sample_acs == H.OUT_ACS_PER_SAMPLE


def test_errors():
    with pytest.raises(ShapeMismatchError):
        SynapticOperations().update("h", H.X, H.W1.T)
    with pytest.raises(ConfigError):
        SynapticOperations().update("h", H.X, H.W1, rec_inputs=H.S)
    with pytest.raises(ShapeMismatchError):
        SynapticOperations().update("h", H.X, H.W1).update("h", H.S, H.W2)
    with pytest.raises(ConfigError):
        SynapticOperations().update("h", H.X * float("nan"), H.W1)
    with pytest.raises(ConfigError):
        SynapticOperations("per_call")


def test_reset_forgets():
    ops = SynapticOperations().update("out", H.S, H.W2)
    assert ops.reset().compute().per_layer == {}


# ------------------------------------------------------------------------------ GPN
C = 2
W_IN = torch.tensor([[1.0, 0.0, 0.0],
                     [0.0, 0.0, 0.0]])            # neuron 1 gets no input at all
X_SPIKES = torch.tensor([[[1, 1, 0], [0, 0, 1], [0, 0, 0]]], dtype=torch.float32)


def test_gpn_from_gate_shape():
    r = gpn_layer_ops(X_SPIKES, W_IN, (4 * C, 2 * C), name="g")
    inp, gates = r.per_layer["g"], r.per_layer["g.gates"]
    # input Linear: t0 reads inputs 0 and 1 (non-zeros per column 1, 0) -> 1; t1 input 2 -> 0
    assert (inp.acs_total, inp.macs_total, inp.dense_total) == (1, 0, 3 * 3 * 2)
    # gates read [v (2 entries, taken non-zero), x (x_0 non-zero at t0 only)] x 4C = 8 rows:
    # t0: (2 + 1) * 8 = 24; t1: 2 * 8 = 16; t2: 16 -> 56 MACs, dense 3 * 8 * 4 = 96
    assert (gates.acs_total, gates.macs_total, gates.dense_total) == (0, 56, 96)


def test_gpn_with_recorded_gate_inputs_and_zero_weights():
    gate_w = torch.ones(4 * C, 2 * C)
    gate_w[:, 3] = 0                               # the x_1 column is all zeros
    gi = torch.tensor([[[0.2, -0.1, 0.7, 0.0], [0.0, 0.3, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]])
    gates = gpn_layer_ops(X_SPIKES, W_IN, gate_w, gate_inputs=gi, name="g").per_layer["g.gates"]
    # t0: 3 non-zero inputs x 8 = 24 (graded: MACs); t1: 1 x 8 = 8 (graded);
    # t2: [1, 0, 0, 0] is in {-1, 0, 1}: 8 ACs (NeuroBench's rule, applied as is)
    assert (gates.macs_total, gates.acs_total) == (32, 8)


def test_gpn_bad_gate_shape():
    with pytest.raises(ShapeMismatchError):
        gpn_layer_ops(X_SPIKES, W_IN, (2 * C, 2 * C))
