"""Our SynOps and activation sparsity against NeuroBench's own (neurobench 2.3.0).

NeuroBench decides AC/MAC per connection call: stepping a batch of 1 through time
is our ``decide_per="sample_step"``, stepping the whole batch is ``"batch_step"``.
RECORDED holds what ``python -m tests.metrics.neurobench_reference`` printed with
neurobench 2.3.0; the live test recomputes them (neurobench is in the dev extra, so
CI runs it; RECORDED keeps the check where it is not installed).
"""

import pytest

from spikedeploy.metrics import ActivationSparsity, SynapticOperations

from . import hand_network as H
from .neurobench_reference import neurobench_counts, random_case

RECORDED = {
    "hand/batch1": {"Effective_ACs": 11.0, "Effective_MACs": 2.0, "Dense": 42.0,
                    "ActivationSparsity": 0.41666666666666663},
    "hand/batch2": {"Effective_ACs": 10.5, "Effective_MACs": 2.5, "Dense": 42.0,
                    "ActivationSparsity": 0.4166666666666667},
    "random/batch1": {"Effective_ACs": 98.5, "Effective_MACs": 75.25, "Dense": 1008.0,
                      "ActivationSparsity": 0.6927083333333333},
    "random/batch4": {"Effective_ACs": 69.5, "Effective_MACs": 104.25, "Dense": 1008.0,
                      "ActivationSparsity": 0.6927083333333334},
}
CASES = {"hand": (H.X, H.W1, H.R, H.W2, H.S), "random": random_case()}


def ours(x, w1, r, w2, s, decide_per):
    syn = (SynapticOperations(decide_per).update("h", x, w1, rec_inputs=s, rec_weight=r)
           .update("out", s, w2).compute())
    sparsity = ActivationSparsity().update("h", s).compute().sparsity
    return {"Effective_ACs": syn.effective_acs, "Effective_MACs": syn.effective_macs,
            "Dense": syn.dense_ops, "ActivationSparsity": sparsity}


def _key(case, batch):
    return f"{case}/batch{batch}"


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("rule", ["sample_step", "batch_step"])
def test_equals_recorded_neurobench(case, rule):
    args = CASES[case]
    batch = 1 if rule == "sample_step" else args[0].shape[0]
    expected = RECORDED[_key(case, batch)]
    got = ours(*args, rule)
    for k in ("Effective_ACs", "Effective_MACs", "Dense"):
        assert got[k] == expected[k], k
    assert got["ActivationSparsity"] == pytest.approx(expected["ActivationSparsity"], rel=1e-12)


def test_the_random_case_tells_the_rules_apart():
    # Otherwise the two recorded goldens would not test the rule at all.
    assert RECORDED["random/batch1"]["Effective_ACs"] != RECORDED["random/batch4"]["Effective_ACs"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_live_neurobench(case):
    pytest.importorskip("neurobench", reason="neurobench is not installed (the dev extra installs it); "
                                             "RECORDED holds its numbers")
    args = CASES[case]
    for batch, rule in ((1, "sample_step"), (args[0].shape[0], "batch_step")):
        nb = neurobench_counts(*args, batch_size=batch)
        got = ours(*args, rule)
        for k in ("Effective_ACs", "Effective_MACs", "Dense"):
            assert got[k] == nb[k], (k, batch)
        assert got["ActivationSparsity"] == pytest.approx(nb["ActivationSparsity"], rel=1e-12)
