"""Quantisation-aware fine-tuning on the post-training quantiser's integer grid (spikedeploy.quant.qat)."""

import numpy as np
import torch

from spikedeploy.models.to_spec import model_to_spec
from spikedeploy.quant.ptq import LayerScale, QuantConfig, quantize
from spikedeploy.quant.qat import fake_quantized, qat_finetune
from spikedeploy.training.loop import TensorData

from .test_ptq import _small_model


def test_fake_quantised_forward_sees_the_quantisers_integers():
    m = _small_model("cuba-shd")
    x = (torch.rand(16, 20, 30, generator=torch.Generator().manual_seed(2)) < 0.2).float()
    spec = model_to_spec(m)
    net, rep = quantize(spec, x, verify=False)
    plan = {k: LayerScale.from_dict(v) for k, v in net.metadata["scales"].items()}
    before = {k: v.clone() for k, v in m.state_dict().items()}
    fq = fake_quantized(m, plan)
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())   # original untouched
    fq_spec = model_to_spec(fq)
    for l, ll in zip(fq_spec.layers, net.layers):
        lam, e = plan[l.name].scale, plan[l.name].weight_exp
        assert np.array_equal(l.weight.astype(np.float64), (ll.weight * 2.0 ** (e + 6) / lam).astype(np.float32))
        if l.rec_weight is not None:
            er = plan[l.name].rec_weight_exp
            assert np.array_equal(l.rec_weight, (ll.rec_weight * 2.0 ** (er + 6) / lam).astype(np.float32))
        assert np.allclose(l.dv, (ll.dv / 4096.0), atol=2e-7)
        assert np.allclose(l.du, (ll.du + 1) / 4096.0, atol=2e-7)
        if l.spiking:
            assert np.allclose(l.vth, ll.vth * 64 / lam, rtol=1e-6)
        assert np.allclose(l.bias, ll.bias_mant * 2.0 ** ll.bias_exp / lam, rtol=1e-6, atol=1e-9)


def test_qat_finetune_returns_latent_weights_that_quantise_to_what_training_saw():
    m = _small_model("lif-shd")
    g = torch.Generator().manual_seed(5)
    x = (torch.rand(40, 15, 30, generator=g) < 0.2).float()
    y = torch.arange(40) % 4
    train, val = TensorData(x[:32], y[:32]), TensorData(x[32:], y[32:])
    torch.manual_seed(0)
    res = qat_finetune(m, train, val, x, epochs=1, batch_size=16, lr=1e-3, progress=False)
    assert res.best_epoch == 1 and len(res.history) == 1
    assert not any(n.endswith("original") for n in res.model.state_dict())   # parametrisations removed
    fq_spec = model_to_spec(fake_quantized(res.model, res.plan))
    net, rep = quantize(model_to_spec(res.model), x, config=QuantConfig(plan=res.plan), verify=False)
    for l, ll in zip(fq_spec.layers, net.layers):
        p = res.plan[l.name]
        assert np.array_equal(l.weight, (ll.weight * 2.0 ** (p.weight_exp + 6) / p.scale).astype(np.float32))
    assert all(r.weights_clipped == 0 for r in rep.layers)
