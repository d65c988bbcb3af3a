"""Energy estimates: joules computed by hand from the profiles' numbers for known counts."""

import pytest

from spikedeploy.errors import ConfigError
from spikedeploy.hardware import load_chip
from spikedeploy.metrics import OperationEnergy, count_run, estimate_energy, operation_energy
from spikedeploy.metrics.records import LayerWeights

from . import hand_network as H

# Per sample (hand_network.py): h: 5.5 ACs, 2 MACs, 5 active / 1 inactive updates,
# 3.5 spikes; out: 5.5 ACs, 4.5 active / 1.5 inactive updates, no spikes.
COUNTS = count_run([LayerWeights("h", H.W1, H.R), LayerWeights("out", H.W2, spiking=False)],
                   H.X, {"h": H.S}, dt=H.DT)


def test_loihi1_by_hand_from_the_profile():
    p = load_chip("loihi1")
    syn, act, inact, spike = (p.energy_pj(k) for k in ("synaptic_op", "neuron_update_active",
                                                        "neuron_update_inactive", "spike_within_tile"))
    assert (syn, act, inact, spike) == (23.6, 81.0, 52.0, 1.7)   # Davies et al. 2018, Table 2
    e = estimate_energy(COUNTS, "loihi1")
    h, out = e.per_layer["h"], e.per_layer["out"]
    # MACs (graded input) are charged as synaptic ops on a chip without a MAC cost.
    assert h.synaptic_j == pytest.approx((5.5 + 2.0) * 23.6e-12, rel=1e-12)
    assert h.neuron_j == pytest.approx((5 * 81 + 1 * 52) * 1e-12, rel=1e-12)
    assert h.spike_j == pytest.approx(3.5 * 1.7e-12, rel=1e-12)
    assert out.total_j == pytest.approx((5.5 * 23.6 + 4.5 * 81 + 1.5 * 52) * 1e-12, rel=1e-12)
    assert e.total_j == pytest.approx(1212.25e-12, rel=1e-12)
    assert not e.estimate_only
    text = "\n".join(e.assumptions)
    assert "Davies" in text and "charged as synaptic ops" in text and "lower bound" in text


def test_loihi2_is_labelled_an_estimate():
    e = estimate_energy(COUNTS, "loihi2")
    assert e.estimate_only and "ESTIMATE" in e.assumptions[0]
    assert any("(estimate)" in line for line in e.assumptions)
    assert e.to_dict()["estimate_only"] is True


def test_gpu_45nm_by_hand():
    g = operation_energy(load_chip("gpu"))
    assert (g.mac_pj, g.ac_pj, g.neuromorphic) == (4.6, 0.9, False)
    e = estimate_energy(COUNTS, g)
    # MACs x 4.6 pJ + ACs x 0.9 pJ; no neuron or spike energy
    assert e.total_j == pytest.approx((2.0 * 4.6 + 11.0 * 0.9) * 1e-12, rel=1e-12)
    assert e.neuron_j == 0 and e.spike_j == 0
    dense = estimate_energy(COUNTS, g, basis="dense")
    assert dense.total_j == pytest.approx(42.0 * 4.6e-12, rel=1e-12)


def test_explicit_costs_and_state_given():
    costs = OperationEnergy("toy", ac_pj=1.0, mac_pj=10.0, neuron_active_pj=100.0, spike_pj=1000.0)
    c = count_run([LayerWeights("h", H.W1, H.R), LayerWeights("out", H.W2, spiking=False)],
                  H.X, {"h": H.S}, states={"h": (H.H_U, H.H_V), "out": H.S * 0 + 1})
    e = estimate_energy(c, costs)
    # inactive updates charged as active when no inactive cost is given: 12 updates x 100 pJ
    assert e.neuron_j == pytest.approx(12 * 100e-12)
    assert e.total_j == pytest.approx((11 * 1 + 2 * 10 + 1200 + 3.5 * 1000) * 1e-12)
    assert not any("lower bound" in line for line in e.assumptions)


def test_gpn_gates_are_flagged_on_a_chip():
    c = count_run([("g", H.W1), LayerWeights("out", H.W2, spiking=False)], H.X, {"g": H.S},
                  gate_weights={"g": (8, 4)})
    e = estimate_energy(c, "loihi1")
    assert any("GPN gate" in line for line in e.assumptions)


def test_errors():
    with pytest.raises(ConfigError):
        OperationEnergy("bad", ac_pj=-1.0)
    with pytest.raises(ConfigError):
        estimate_energy(COUNTS, "loihi1", basis="peak")
    with pytest.raises(ConfigError):
        estimate_energy(COUNTS, "no-such-chip")
