"""Post-training quantisation to Loihi integers (spikedeploy.quant.ptq)."""

import warnings

import numpy as np
import pytest
import torch

from spikedeploy.errors import ConfigError, QuantizationError
from spikedeploy.hardware import load_chip
from spikedeploy.models import build_network, get_preset
from spikedeploy.models.spec_network import SpecNetwork
from spikedeploy.models.to_spec import model_to_spec
from spikedeploy.netspec import LayerSpec, NetworkSpec
from spikedeploy.quant.emulator import emulate, emulator_accuracy, emulator_logits
from spikedeploy.quant.ptq import LayerScale, QuantConfig, QuantizationWarning, plan_scales, quantize, quantize_decays

FP = load_chip("loihi2").require_fixed_point()


# ----------------------------------------------------------------------------- hand-computed integers

def _hand_spec() -> NetworkSpec:
    h0 = LayerSpec("h0", weight=[[1.5, -0.3], [0.125, 0.2]], du=[1, 0.5], dv=[0.25, 0.1], vth=[1.0, 2.0],
                   bias=[0.1, -0.05])
    r = LayerSpec("r", weight=[[0.75, -0.5]], du=1, dv=0, vth=None, bias=[0.02])
    return NetworkSpec(2, (h0, r), readout="last")


def test_ptq_of_a_tiny_spec_gives_the_hand_computed_integers():
    # One calibration step with both inputs on:
    #   h0: x = W [1, 1] = [1.2, 0.325] = u;  v = u + bias = [1.3, 0.275] -> neuron 0 spikes, no v < 0.
    #   limits: threshold 131071*64/2 = 4194272; bias 4095*128/0.1 = 5241600;
    #           a_in 32767*64/(2*1.2) = 873786.7 (smallest); u 8388607/(2*1.2) = 3495253.
    #   weight_exp = floor(log2(873786.7 * 1.5 / (254 * 64))) = floor(6.33) = 6
    #   scale = 254 * 64 * 2^6 / 1.5 = 693589.33;  scale / 2^12 = 169.33
    #   W: [1.5, -0.3, 0.125, 0.2] * 169.33 = [254, -50.8, 21.17, 33.87] -> even: [254, -50, 22, 34]
    #   vth = round(scale / 64 * [1, 2]) = round([10837.3, 21674.7]) = [10837, 21675]
    #   bias * scale = [69358.9, -34679.5]: exponent 5 (69358.9 / 32 = 2167.5 < 4095, /16 would not fit)
    #        -> mantissas round([2167.47, -1083.73]) = [2167, -1084]
    #   du = round(4096 [1, 0.5]) - 1 = [4095, 2047];  dv = round(4096 [0.25, 0.1]) = [1024, 410]
    # readout r: input s = [1, 0]: x = u = 0.75, v = 0.77 (non-spiking, |v| < 131071 << 6)
    #   limits: a_in 32767*64/(2*0.75) = 1398058.7 (smallest); v 8388544/(2*0.77); bias 524160/0.02
    #   weight_exp = floor(log2(1398058.7 * 0.75 / 16256)) = floor(6.01) = 6; scale = 16256*64/0.75
    #   W * scale / 4096 = [254, -169.33] -> [254, -170];  bias 0.02 * scale = 27743.6 -> exp 3, 3468
    net, rep = quantize(_hand_spec(), torch.ones(1, 1, 2))
    h0, r = net.layers
    assert h0.weight.tolist() == [[254, -50], [22, 34]] and h0.weight_exp == 6
    assert h0.du.tolist() == [4095, 2047] and h0.dv.tolist() == [1024, 410]
    assert h0.vth.tolist() == [10837, 21675]
    assert h0.bias_mant.tolist() == [2167, -1084] and h0.bias_exp == 5
    assert h0.spiking and h0.rec_weight is None
    assert r.weight.tolist() == [[254, -170]] and r.weight_exp == 6
    assert r.du.tolist() == [4095] and r.dv.tolist() == [0] and not r.spiking
    assert r.bias_mant.tolist() == [3468] and r.bias_exp == 3
    assert rep.layer("h0").scale == pytest.approx(254 * 64 * 64 / 1.5, rel=1e-12)
    assert rep.layer("h0").limit == "a_in" and rep.layer("r").limit == "a_in"
    assert net.metadata["readout"] == "last" and net.metadata["readout_scale"] == pytest.approx(16256 * 64 / 0.75)
    assert net.metadata["scales"]["h0"] == {"scale": pytest.approx(693589.3333), "weight_exp": 6, "bias_exp": 5,
                                            "rec_weight_exp": None}
    # Weight error of h0: |W_int * 2^12 / scale - W| = [0, 0.3 - 50/169.33, 22/169.33 - 0.125, 0.2 - 34/169.33]
    unit = 4096 / rep.layer("h0").scale
    err = np.array([254, -50, 22, 34]) * unit - np.array([1.5, -0.3, 0.125, 0.2])
    assert rep.layer("h0").weight_max_error == pytest.approx(np.abs(err).max(), rel=1e-9)
    assert rep.layer("h0").weights_clipped == 0 and rep.layer("h0").weight_range_used == 1.0
    # The one calibration sample: the emulator spikes exactly as the float network does.
    assert rep.layer("h0").spike_agreement == 1.0 and rep.logit_agreement == 1.0


def test_decays_round_to_lavas_12_bit_integers():
    du, dv = quantize_decays(np.array([1, 0.5, 1 / 4096, 0.0, 0.3]), np.array([0, 0.1, 1, 1 / 8192, 0.3]), FP)
    # du: round(4096 du) - 1, clipped to 0..4095 (du = 0 cannot be represented: the nearest is 1/4096)
    assert du.tolist() == [4095, 2047, 0, 0, 1229 - 1]   # 0.3 * 4096 = 1228.8
    # dv: round(4096 dv), clipped to 0..4095 (dv = 1 becomes 4095/4096); 0.5 rounds to even
    assert dv.tolist() == [0, 410, 4095, 0, 1229]


# ----------------------------------------------------------------------------- exact on the grid

def _grid_spec(kind: str) -> tuple[NetworkSpec, torch.Tensor]:
    """Weights k / 1024 with max |k| = 254 in every feed-forward matrix, thresholds and biases
    on coarse dyadic grids: the quantiser's scales come out as powers of two and every
    value is exact; decays are 0, 1/2 or 1, which float and integer arithmetic apply alike
    (u is a multiple of 64 = 2^6 at the input, so at most 6 halvings stay exact: T = 6)."""
    g = torch.Generator().manual_seed(3 if kind == "if" else 4)

    def w(n_out, n_in, top=254, lo=-200):
        k = torch.randint(lo // 2, top // 2 + 1, (n_out, n_in), generator=g) * 2
        k[0, 0] = top
        return (k.double() / 1024).numpy()

    def rec(n):
        k = torch.randint(-40, 41, (n, n), generator=g) * 2
        k.fill_diagonal_(0)
        return (k.double() / 1024).numpy()

    if kind == "if":   # integrate-and-fire layers (du = 1, dv = 0), recurrent; integrator readout
        layers = (LayerSpec("h0", w(12, 10), du=1, dv=0, vth=0.75, bias=(np.arange(12) - 6) / 64,
                            rec_weight=rec(12)),
                  LayerSpec("h1", w(8, 12), du=1, dv=0, vth=[1.0, 1.25] * 4, bias=0.0, rec_weight=rec(8)),
                  LayerSpec("out", w(3, 8), du=1, dv=0, vth=None, bias=[0.25, -0.125, 0.0]))
        T = 40
    else:              # LIF dv = 1/2, CUBA-LIF du = 1/2 (recurrent), integrator readout
        layers = (LayerSpec("h0", w(12, 10), du=1, dv=0.5, vth=0.5, bias=(np.arange(12) - 6) / 64),
                  LayerSpec("h1", w(8, 12), du=0.5, dv=0, vth=0.125, bias=1 / 64, rec_weight=rec(8)),
                  LayerSpec("out", w(3, 8), du=1, dv=0, vth=None, bias=[0.25, -0.125, 0.0]))
        T = 6
    spec = NetworkSpec(10, layers, readout="mean")
    x = (torch.rand(32, T, 10, generator=g) < 0.35).float()
    return spec, x


@pytest.mark.parametrize("kind", ["if", "cuba"])
def test_a_network_on_the_loihi_grid_quantises_without_error_and_the_emulator_equals_the_float_spec(kind):
    spec, x = _grid_spec(kind)
    net, rep = quantize(spec, x)
    for l in rep.layers:
        assert l.weight_rms_error == 0 and l.weight_max_error == 0 and l.weights_clipped == 0
        assert l.rec_weight_rms_error in (None, 0.0)
        assert l.du_max_error == 0 and l.dv_max_error == 0 and l.bias_max_error == 0
        assert l.vth_max_rel_error in (None, 0.0)
        assert math_log2_is_int(l.scale)
        assert l.emu_a_in_overflow == l.emu_u_near_wrap == l.emu_v_saturated == l.emu_readout_overflow == 0
    float_run = SpecNetwork(spec).run(x)
    res = emulate(net, x, record=("s", "v"))
    for i, l in enumerate(spec.layers):
        lam = rep.layers[i].scale
        v_float = float_run.voltages[i].double() * lam
        assert torch.equal(res.voltage[l.name].double(), v_float), l.name
        if l.spiking:
            assert torch.equal(res.spikes[l.name].float(), float_run.outputs[i]), l.name
            assert rep.layers[i].spike_agreement == 1.0 and rep.layers[i].v_rms_error_vth == 0.0
    assert float(float_run.outputs[0].mean()) > 0.05 and float(float_run.outputs[1].mean()) > 0.02  # not silent
    T = x.shape[1]
    assert torch.equal(emulator_logits(net, res.readout), float_run.voltages[-1][:, -1].double() / T)
    # (the float32 logits differ from the float64 division by T in the last bit only)
    assert rep.logit_max_abs_error < 1e-7 and rep.logit_agreement == 1.0


def math_log2_is_int(v: float) -> bool:
    return float(np.log2(v)).is_integer()


# ----------------------------------------------------------------------------- strict vs allow

def test_spike_counts_in_the_input_are_refused_unless_allowed():
    spec, x = _grid_spec("if")
    x = x.clone()
    x[0, 0, :3] = 2.0
    with pytest.raises(QuantizationError) as err:
        quantize(spec, x)
    assert err.value.layer == "h0" and err.value.field == "input" and "binary" in str(err.value)
    with pytest.warns(QuantizationWarning, match="counts > 1"):
        net, rep = quantize(spec, x, allow_approx=True)
    assert rep.input_clipped == 3 and rep.input_binarization_logit_agreement is not None
    assert any("input" in a for a in rep.approximations)


def test_a_threshold_beyond_17_bits_is_refused_unless_allowed():
    spec, x = _grid_spec("if")
    # scale 2^24: vth 0.75 -> 0.75 * 2^24 / 64 = 196608 > 131071
    plan = {"h0": LayerScale(2.0 ** 24, weight_exp=7, bias_exp=7, rec_weight_exp=7)}
    with pytest.raises(QuantizationError) as err:
        quantize(spec, x, config=QuantConfig(plan=plan))
    assert err.value.layer == "h0" and err.value.field in ("weight", "vth")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net, rep = quantize(spec, x, config=QuantConfig(plan=plan, allow_approx=True))
    assert net.layer("h0").vth.tolist() == [FP.threshold_max] * 12
    assert any(issubclass(w.category, QuantizationWarning) for w in caught)
    assert any("vth" in a for a in rep.approximations)


def test_clipped_weights_are_counted_refused_and_tolerated_as_configured():
    spec, x = _grid_spec("if")
    # h0 at scale 2^17 (exponent 1 would fit) forced to exponent 0: W_int = 2^11 W = 2 k,
    # so every |k| > 127 clips.
    k = np.round(spec.layer("h0").weight * 1024).astype(int)
    expected = int(((2 * k) > 254).sum() + ((2 * k) < -256).sum())   # mixed-sign grid [-256, 254]
    assert expected > 0
    plan = {"h0": LayerScale(2.0 ** 17, weight_exp=0, bias_exp=5, rec_weight_exp=0)}
    with pytest.raises(QuantizationError) as err:
        quantize(spec, x, config=QuantConfig(plan=plan))
    assert (err.value.layer, err.value.field) == ("h0", "weight")
    assert f"{expected} of 120 weights" in str(err.value)
    tolerant = QuantConfig(plan=plan, max_clipped_fraction=expected / 120)
    net, rep = quantize(spec, x, config=tolerant, verify=False)
    assert rep.layer("h0").weights_clipped == expected
    assert int(net.layer("h0").weight.max()) == 254 and int(net.layer("h0").weight.min()) >= -256


def test_mse_weight_range_clips_the_tail_by_choice_and_lowers_the_error():
    g = np.random.default_rng(0)
    # Clipping a few weights pays only when many weights gain resolution: 25600 weights, heavy tails.
    w = 0.02 * g.standard_t(3, (64, 400))
    h = LayerSpec("h", w, du=1, dv=0.1, vth=1.0)
    r = LayerSpec("r", g.normal(0, 0.3, (3, 64)), du=1, dv=0.1, vth=None)
    spec = NetworkSpec(400, (h, r))
    x = (torch.rand(8, 20, 400, generator=torch.Generator().manual_seed(0)) < 0.05).float()
    _, rep_max = quantize(spec, x)
    _, rep_mse = quantize(spec, x, config=QuantConfig(weight_range="mse"))   # strict, yet no error
    a, b = rep_max.layer("h"), rep_mse.layer("h")
    assert a.weights_clipped == 0 and b.weights_clipped > 0
    assert b.weight_rms_error < a.weight_rms_error
    from spikedeploy.quant.ptq import weight_range
    top = weight_range(w, "mse", -256, 254, 2, 254)
    assert top < np.abs(w).max() and b.weights_clipped == int((np.abs(w) > top * (1 + 1 / 254)).sum())
    with pytest.raises(ConfigError):
        QuantConfig(weight_range="p99")


def test_the_readout_integrator_does_not_saturate_over_the_steps():
    # A mean readout (du = 1, dv = 0) with a bias sums bias * T: the scale keeps it below vth_max << 6.
    spec, x = _grid_spec("if")
    out = spec.layers[-1]
    big = LayerSpec("out", out.weight, du=1, dv=0, vth=None, bias=[40.0, -30.0, 5.0])
    spec = NetworkSpec(spec.input_size, spec.layers[:-1] + (big,), readout="mean")
    net, rep = quantize(spec, x)
    r = rep.layer("out")
    assert r.limit == "v" and r.v_frac <= 0.5 + 1e-12
    assert r.emu_readout_overflow == 0 and r.emu_v_max_frac < 0.5
    # T = 40 steps of bias 40 = 1600 float units at most: scale <= 8388544 / (2 * v_max)
    assert r.scale * r.calib_max_v * 2 <= (FP.threshold_max << FP.threshold_shift)
    assert rep.logit_agreement == 1.0
    # Forcing a scale that saturates is refused (v), or reported with allow_approx.
    plan = {"out": LayerScale(2.0 ** 13, weight_exp=0, bias_exp=7)}   # 1600 * 2^13 > 2^23
    with pytest.raises(QuantizationError) as err:
        quantize(spec, x, config=QuantConfig(plan=plan))
    assert (err.value.layer, err.value.field) == ("out", "v")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, rep2 = quantize(spec, x, config=QuantConfig(plan=plan, allow_approx=True))
    assert rep2.layer("out").emu_readout_overflow > 0


def test_deep_negative_voltages_saturate_at_the_floor_by_design():
    # One LIF layer (dv = 1/128) driven by inhibitory inputs: v sinks towards -100 vth.
    w = np.full((4, 6), -0.6)
    w[:, 0] = 1.0
    h = LayerSpec("h", w, du=1, dv=1 / 128, vth=1.0, bias=0.0)
    r = LayerSpec("r", np.ones((2, 4)) / 4, du=1, dv=0, vth=None)
    spec = NetworkSpec(6, (h, r), readout="mean")
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(8, 200, 6, generator=g) < 0.5).float()
    net, rep = quantize(spec, x)                       # default v_floor = 32 thresholds
    l = rep.layer("h")
    assert l.calib_max_v > 64                         # the float voltage goes far below -32 vth
    # the floor sets the scale (the weight exponent then rounds it down by less than 2x)
    assert l.limit == "v_floor" and 32 <= l.v_clip_vth < 64
    assert l.emu_v_saturated > 0 and not rep.approximations   # by design: reported, not an error
    full = QuantConfig(v_floor=None)
    net2, rep2 = quantize(spec, x, config=full)       # keep the whole range: no saturation
    l2 = rep2.layer("h")
    assert l2.limit == "v" and l2.emu_v_saturated == 0 and l2.v_frac <= 0.5 + 1e-12
    assert l2.scale < l.scale / 4
    plan = {"h": LayerScale(l.scale, l.weight_exp, l.bias_exp)}
    with pytest.raises(QuantizationError) as err:      # without the floor, saturation is refused
        quantize(spec, x, config=QuantConfig(v_floor=None, plan=plan))
    assert (err.value.layer, err.value.field) == ("h", "v")


def test_only_the_last_layer_may_be_non_spiking_and_inputs_are_checked():
    spec, x = _grid_spec("if")
    a, b, c = spec.layers
    bad = NetworkSpec(10, (LayerSpec("h0", a.weight, du=1, dv=0, vth=None), b, c))
    with pytest.raises(QuantizationError) as err:
        quantize(bad, x)
    assert err.value.layer == "h0"
    with pytest.raises(Exception):
        quantize(spec, x[:, :, :5])
    with pytest.raises(ConfigError):
        quantize(spec, x * float("nan"))
    with pytest.raises(ConfigError):
        QuantConfig(headroom=0.5)
    with pytest.raises(ConfigError):
        quantize(spec, x, config=QuantConfig(plan={"nope": LayerScale(1.0, 0)}))


def test_report_and_plan_are_plain_data():
    spec, x = _grid_spec("cuba")
    net, rep = quantize(spec, x, labels=torch.zeros(32, dtype=torch.int64))
    d = rep.to_dict()
    assert [l["name"] for l in d["layers"]] == ["h0", "h1", "out"]
    assert 0 <= d["accuracy_emulator"] <= 1 and d["accuracy_emulator"] == d["accuracy_float"]
    text = rep.format()
    assert "h1" in text and "spike agree" in text
    plan = plan_scales(spec, x)
    assert {k: v.to_dict() for k, v in plan.items()} == net.metadata["scales"]
    assert LayerScale.from_dict(plan["h1"].to_dict()) == plan["h1"]
    # Re-quantising with the stored plan gives the same integers.
    net2, _ = quantize(spec, x, config=QuantConfig(plan=plan), verify=False)
    for l1, l2 in zip(net.layers, net2.layers):
        assert l1.to_dict().keys() == l2.to_dict().keys()
        for k, v in l1.to_dict().items():
            assert np.array_equal(v, l2.to_dict()[k]), (l1.name, k)


# ----------------------------------------------------------------------------- a trained-model shape

def _small_model(name: str, seed: int = 0):
    torch.manual_seed(seed)
    cfg = get_preset(name).network.replace(hidden=[24], input_size=30, n_classes=4, weight_gain=2.0)
    m = build_network(cfg).eval()
    with torch.no_grad():
        m.layers[0].neuron.bias.uniform_(-0.05, 0.1)
    return m


def test_ptq_of_a_cuba_network_is_close_and_reported():
    m = _small_model("cuba-shd")
    x = (torch.rand(48, 40, 30, generator=torch.Generator().manual_seed(1)) < 0.15).float()
    net, rep = quantize(model_to_spec(m), x)
    h = rep.layer("hidden0")
    assert h.weight_range_used == 1.0 and h.weights_clipped == 0
    assert h.weight_rel_rms_error < 0.01          # 8-bit weights: step max|W| / 127
    assert h.spike_agreement > 0.95 and abs(h.rate_float - h.rate_emulator) < 0.02
    assert h.a_in_frac <= 0.5 and h.u_frac <= 0.5                      # headroom 2
    assert h.v_frac <= 0.5 or h.v_clip_vth >= 32 * (1 - 1e-9)          # ... or the negative floor
    assert net.layer("hidden0").rec_weight is not None and h.rec_weight_exp is not None
    assert rep.logit_agreement > 0.8


def test_emulator_accuracy_counts_correct_samples():
    spec, x = _grid_spec("if")
    net, _ = quantize(spec, x)
    logits = SpecNetwork(spec)(x)
    y = logits.argmax(1)
    out = emulator_accuracy(net, x, y, batch_size=10)
    assert out["acc"] == 1.0 and out["n"] == 32
    assert out["rates"]["h0"] == pytest.approx(float(SpecNetwork(spec).run(x).outputs[0].mean()), rel=1e-6)
    y2 = (y + 1) % 3
    assert emulator_accuracy(net, x, y2)["acc"] == 0.0
    with pytest.raises(ConfigError):
        emulator_accuracy(net, x * 2, y)
    assert emulator_accuracy(net, x * 2, y, binarize=True)["acc"] == 1.0
