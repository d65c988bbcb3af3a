"""SpikeCount, ActivationSparsity and NeuronUpdates against hand counts."""

import numpy as np
import pytest
import torch

from spikedeploy.errors import ConfigError, ShapeMismatchError
from spikedeploy.metrics import ActivationSparsity, NeuronUpdates, SpikeCount, active_neurons

from . import hand_network as H


def test_spike_count_and_rates():
    r = SpikeCount(dt=H.DT).update("h", H.S).compute()
    h = r.per_layer["h"]
    assert h.per_sample == H.H_SPIKES_PER_SAMPLE and h.spikes == 7
    assert h.per_neuron == (3, 4)
    assert h.sample_steps == 6 and h.neuron_steps == 12
    assert h.rate_per_step == 7 / 12
    assert h.rate_hz == 7 / (12 * 1e-3)
    assert h.spikes_per_sample == 3.5 and h.silent_neurons == 0
    assert r.rate_per_step == 7 / 12


def test_graded_spikes_count_once_and_no_dt_means_no_hz():
    graded = H.S * torch.tensor([3.0, -2.0])
    r = SpikeCount().update("h", graded).compute().per_layer["h"]
    assert r.spikes == 7 and r.rate_hz is None


def test_rates_equal_exactly_across_dtypes_and_batching():
    a = SpikeCount(dt=H.DT).update("h", H.S).compute()
    b = SpikeCount(dt=H.DT).update("h", H.S[:1].numpy().astype(bool)).update(
        "h", H.S[1:].to(torch.int16)).compute()
    assert a == b
    assert a.per_layer["h"].rate_hz == b.per_layer["h"].rate_hz


def test_rate_is_not_float_summed():
    # 2^25 + 1 spikes in one sample: a float32 sum would lose the + 1.
    s = torch.zeros(1, 2 ** 15, 1025, dtype=torch.bool)
    s[:, :, :1024] = True
    s[0, 0, 1024] = True
    r = SpikeCount().update("big", s).compute().per_layer["big"]
    assert r.spikes == 2 ** 25 + 1 and r.per_sample == (2 ** 25 + 1,)
    assert r.per_neuron[1024] == 1
    assert float(s.float().sum()) != 2 ** 25 + 1   # what float32 summing would give


def test_activation_sparsity_pools_layers():
    s2 = torch.zeros(2, 3, 4)
    s2[0, 0, 0] = 1
    r = ActivationSparsity().update("h", H.S).update("h2", s2).compute()
    assert (r.per_layer["h"].zeros, r.per_layer["h"].outputs) == (H.H_ZEROS, H.H_OUTPUTS)
    assert r.per_layer["h"].sparsity == 5 / 12
    assert (r.zeros, r.outputs) == (5 + 23, 12 + 24)
    assert r.sparsity == 28 / 36


def test_neuron_updates_from_input_events():
    r = (NeuronUpdates()
         .update("h", H.X, H.W1, rec_inputs=H.S, rec_weight=H.R)
         .update("out", H.S, H.W2)
         .compute())
    h, out = r.per_layer["h"], r.per_layer["out"]
    assert h.per_sample_active == H.H_ACTIVE_PER_SAMPLE and h.total == 12
    assert (h.active, h.inactive, h.state_given) == (10, 2, False)
    assert out.per_sample_active == H.OUT_ACTIVE_PER_SAMPLE
    assert (r.updates_per_sample, r.active_per_sample, r.inactive_per_sample) == (12.0, 9.5, 2.5)


def test_neuron_updates_with_state_trace():
    h = NeuronUpdates().update("h", H.X, H.W1, rec_inputs=H.S, rec_weight=H.R,
                               state=(H.H_U, H.H_V)).compute().per_layer["h"]
    assert h.per_sample_active == H.H_ACTIVE_WITH_STATE and h.state_given


def test_active_mask_exact_positions():
    m = active_neurons(H.X, H.W1, rec_inputs=H.S, rec_weight=H.R)
    expected = torch.tensor([[[1, 0], [1, 1], [1, 0]],
                             [[1, 1], [1, 1], [1, 1]]], dtype=torch.bool)
    assert torch.equal(m, expected)
    # The state entering step 0 is the initial (zero) state: a state after the last step
    # never makes anything active.
    late = torch.zeros(2, 3, 2)
    late[:, 2] = 1.0
    assert torch.equal(active_neurons(H.X, H.W1, state=late), active_neurons(H.X, H.W1))


def test_neuron_update_errors():
    nu = NeuronUpdates().update("h", H.X, H.W1)
    with pytest.raises(ConfigError):
        nu.update("h", H.X, H.W1, state=H.H_U)     # state for some batches only
    with pytest.raises(ShapeMismatchError):
        NeuronUpdates().update("h", H.X, H.W1, state=torch.zeros(2, 3, 5))
    with pytest.raises(ShapeMismatchError):
        SpikeCount().update("h", H.S[0])            # not [B, T, n]
    with pytest.raises(ConfigError):
        SpikeCount(dt=0)
    assert np.isclose(SpikeCount(dt=0.5).dt, 0.5)
