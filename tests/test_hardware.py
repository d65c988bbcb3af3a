"""Chip profiles: loading, the number scheme, the fixed-point view and the fit checks."""

from __future__ import annotations

import pytest

from spikedeploy.errors import ConfigError, MappingError
from spikedeploy.hardware import STATUSES, known_chips, load_chip, load_chip_file


SHIPPED = ("desktop_cpu", "gpu", "h200", "jetson_orin_nano", "jetson_tx1", "kws2019_cpu", "kws2019_gpu", "loihi1",
           "loihi2", "movidius_ncs")


def test_known_chips_are_the_shipped_files():
    assert known_chips() == SHIPPED
    assert {n: load_chip(n).device for n in SHIPPED} == {
        "desktop_cpu": "cpu", "gpu": "arithmetic", "h200": "gpu", "jetson_orin_nano": "gpu", "jetson_tx1": "gpu",
        "kws2019_cpu": "cpu", "kws2019_gpu": "gpu", "loihi1": "neuromorphic", "loihi2": "neuromorphic",
        "movidius_ncs": "accelerator"}


def test_unknown_chip_lists_the_known_ones():
    with pytest.raises(ConfigError) as info:
        load_chip("loihi3")
    assert info.value.valid == SHIPPED
    assert "loihi3" in str(info.value) and "loihi2" in str(info.value)


def test_loihi2_fixed_point_matches_lava_bit_accurate_model():
    fp = load_chip("loihi2").fixed_point
    assert (fp.weight_bits, fp.activation_bits, fp.state_bits, fp.decay_bits) == (8, 16, 24, 12)
    assert (fp.decay_shift, fp.threshold_bits, fp.threshold_shift, fp.activation_shift) == (12, 17, 6, 6)
    assert (fp.bias_mant_bits, fp.bias_exp_bits) == (13, 3)
    assert (fp.current_decay_offset, fp.voltage_decay_offset) == (1, 0)
    # derived ranges
    assert (fp.decay_unity, fp.decay_max, fp.threshold_max) == (4096, 4095, 131071)
    assert (fp.bias_mant_min, fp.bias_mant_max, fp.bias_exp_max) == (-4096, 4095, 7)
    assert (fp.state_half, fp.voltage_limit) == (8388608, 8388607)
    assert (fp.activation_min, fp.activation_max, fp.weight_max) == (-32768, 32767, 255)
    assert load_chip("loihi1").fixed_point == fp


def test_every_number_has_a_source_and_a_status():
    for name in known_chips():
        prof = load_chip(name)
        for section, table in prof.sections.items():
            for key, q in table.items():
                assert q.status in STATUSES, (name, section, key)
                assert q.source.strip(), (name, section, key)
                assert (q.value is None) == (q.status == "unpublished"), (name, section, key)


def test_loihi1_energy_is_davies_table2_and_loihi2_is_labelled_estimate():
    l1, l2, gpu = load_chip("loihi1"), load_chip("loihi2"), load_chip("gpu")
    assert l1.energy_pj("synaptic_op") == 23.6
    assert (l1.energy_pj("neuron_update_active"), l1.energy_pj("neuron_update_inactive")) == (81.0, 52.0)
    assert l1.quantity("energy", "synaptic_op").status == "published"
    assert not l1.energy_is_estimate
    assert l2.energy_is_estimate
    assert all(q.status == "estimate" for q in l2.sections["energy"].values())
    assert (gpu.energy_pj("mac"), gpu.energy_pj("ac")) == (4.6, 0.9)
    assert gpu.energy_pj("fp32_add") + gpu.energy_pj("fp32_mult") == pytest.approx(gpu.energy_pj("mac"))
    assert gpu.fixed_point is None
    with pytest.raises(ConfigError):
        gpu.require_fixed_point()


def test_unpublished_value_raises_with_its_note():
    l2 = load_chip("loihi2")
    assert l2.limit("axons_in_per_core") is None
    with pytest.raises(ConfigError, match="unpublished"):
        l2.value("limits", "axons_in_per_core")
    with pytest.raises(ConfigError, match="no entry"):
        l2.quantity("limits", "bogus")


def test_core_fit_and_check_core():
    l1, l2 = load_chip("loihi1"), load_chip("loihi2")
    fit = l1.core_fit(neurons=1024, axons_in=4096, axons_out=10, synapse_bytes=131072)
    assert fit.fits and fit.unchecked == ()
    fit = l1.core_fit(neurons=1025, axons_in=4097)
    assert not fit and fit.problems == ("neurons_per_core: 1025 > 1024", "axons_in_per_core: 4097 > 4096")
    with pytest.raises(MappingError) as info:
        l1.check_core("hidden", neurons=2000)
    assert (info.value.layer, info.value.limit, info.value.needed, info.value.available) == \
        ("hidden", "neurons_per_core", 2000, 1024)
    # Loihi 2 publishes no fan-in limit: reported as unchecked, not as passed
    fit = l2.core_fit(neurons=8192, axons_in=100000)
    assert fit.fits and "axons_in_per_core" in fit.unchecked
    l1.check_delay("hidden", 62)
    with pytest.raises(MappingError):
        l1.check_delay("hidden", 63)
    l2.check_delay("hidden", 63)    # Lava's bit-accurate DelayDense: 6 bits
    with pytest.raises(MappingError):
        l2.check_delay("hidden", 64)


def test_malformed_profiles_are_refused(tmp_path):
    base = '[chip]\nname = "x"\nkind = "conventional"\ndescription = "d"\n'
    bad = {
        "no_source": base + '[energy]\nmac = { value = 1.0, unit = "pJ", status = "published" }\n',
        "bad_status": base + '[energy]\nmac = { value = 1.0, status = "rumour", source = "s" }\n',
        "value_missing": base + '[energy]\nmac = { status = "published", source = "s" }\n',
        "unpublished_with_value": base + '[energy]\nmac = { value = 1, status = "unpublished", source = "s" }\n',
        "not_a_number": base + '[energy]\nmac = { value = "1", status = "published", source = "s" }\n',
    }
    for label, text in bad.items():
        path = tmp_path / "x.toml"
        path.write_text(text)
        with pytest.raises(ConfigError):
            load_chip_file(path)
    (tmp_path / "x.toml").write_text(base + '[energy]\nmac = { value = 2.5, unit = "pJ", status = "estimate", source = "s" }\n')
    prof = load_chip("x", directory=tmp_path)
    assert prof.energy_pj("mac") == 2.5 and prof.energy_is_estimate
    (tmp_path / "y.toml").write_text(base)  # name "x" in file y.toml
    with pytest.raises(ConfigError, match="differs from the file name"):
        load_chip("y", directory=tmp_path)
    (tmp_path / "z.toml").write_text('[chip]\nname = "z"\nkind = "neuromorphic"\ndescription = "d"\n')
    with pytest.raises(ConfigError, match="fixed-point"):
        load_chip("z", directory=tmp_path)
